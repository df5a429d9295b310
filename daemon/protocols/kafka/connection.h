#pragma once
// One Kafka connection as the daemon follows it: the client's requests and the broker's responses
// (two frame record streams, frame.h), each with its DirectionDecoder, and the requests in flight
// between them (in_flight.h), so that a response is read as what it answers.
//
// The connection owner routes each data event to Feed() with the direction it carries (the
// kernel flags the requests' events TG_DATA_KAFKA_REQUESTS) and calls Close() when the connection
// ends. Each direction follows the loss rule of DirectionDecoder on its own.
//
// Memory: at most MemoryBound(cap, max_in_flight) (two directions and the in-flight ring); after
// Close(), nothing.
//
// Thread safety: none. One owner calls every method.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocols/kafka/direction_decoder.h"
#include "protocols/kafka/frame.h"
#include "protocols/kafka/in_flight.h"
#include "protocols/kafka/message.h"

namespace tracegap::kafka {

class Connection {
 public:
  // `cap` must be the kernel's --max-header-bytes.
  explicit Connection(std::size_t cap = kDefaultCap,
                      std::size_t max_in_flight = InFlight::kDefaultMax);

  // One data event of the connection: of the client's requests (`requests`) or of the broker's
  // responses, with its tg_data_flags (TG_DATA_LOST_BEFORE and TG_DATA_CONTINUATION are read).
  void Feed(bool requests, std::string_view bytes, uint16_t flags, MessageSink& sink);
  // Closes both directions (requests first: DirectionDecoder::Close) and forgets the requests in
  // flight: the instance is as if new.
  void Close(MessageSink& sink);

  const DirectionDecoder& requests() const { return requests_; }
  const DirectionDecoder& responses() const { return responses_; }
  const InFlight& in_flight() const { return in_flight_; }
  std::size_t cap() const { return requests_.cap(); }

  std::size_t memory_bytes() const;
  static std::size_t MemoryBound(std::size_t cap, std::size_t max_in_flight);

 private:
  DirectionDecoder requests_;
  DirectionDecoder responses_;
  InFlight in_flight_;
};

}  // namespace tracegap::kafka

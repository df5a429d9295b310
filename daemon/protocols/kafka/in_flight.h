#pragma once
// The requests of one Kafka connection still waiting for their response, so that a response
// (which carries only a correlation id) can be read as what it answers: a Fetch response of some
// version, or anything else (not read).
//
// A broker answers the requests of a connection in the order they were sent (the protocol
// guarantees it), and answers every request except a Produce with acks = 0 (which the request
// decoder therefore does not add). So the requests form a queue: a response answers the oldest
// request with its correlation id, and every request older than that one will never be answered
// (its response was lost with a TG_DATA_LOST_BEFORE, or it never existed) and is forgotten too.
//
// Bounded: at most `max` requests; adding one more forgets the oldest. Memory: a ring of at most
// max(max, kMinRing) entries of 8 bytes, released when it drains past kRetainEntries.
//
// Thread safety: none. One owner calls every method.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace tracegap::kafka {

struct InFlightRequest {
  int32_t correlation_id = 0;
  int16_t api_key = 0;
  int16_t api_version = 0;
};

class InFlight {
 public:
  static constexpr std::size_t kDefaultMax = 1024;
  static constexpr std::size_t kMinRing = 8;
  static constexpr std::size_t kRetainEntries = 64;

  explicit InFlight(std::size_t max = kDefaultMax) : max_(max) {}

  // Remembers a request until its response. Returns false when the oldest request had to be
  // forgotten to make room (with max 0, nothing is remembered and every call returns false).
  bool Add(const InFlightRequest& request);
  // The request `correlation_id` answers: the oldest one remembered with that id, forgotten with
  // every older one. nullopt (and nothing forgotten) when no request has that id.
  std::optional<InFlightRequest> Take(int32_t correlation_id);
  // Forgets everything and releases the memory.
  void Clear();

  std::size_t size() const { return size_; }
  std::size_t max() const { return max_; }
  std::size_t memory_bytes() const { return ring_.capacity() * sizeof(InFlightRequest); }
  static std::size_t MemoryBound(std::size_t max);

 private:
  const InFlightRequest& At(std::size_t i) const { return ring_[(head_ + i) % ring_.size()]; }
  void Grow();

  std::size_t max_;
  std::vector<InFlightRequest> ring_;  // ring_.size() is the ring's capacity
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace tracegap::kafka

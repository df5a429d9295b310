#include "protocols/kafka/in_flight.h"

#include <algorithm>

namespace tracegap::kafka {

std::size_t InFlight::MemoryBound(std::size_t max) {
  return std::max(max, kMinRing) * sizeof(InFlightRequest);
}

void InFlight::Grow() {
  const std::size_t capacity =
      std::min(std::max(kMinRing, 2 * ring_.size()), std::max(max_, kMinRing));
  std::vector<InFlightRequest> grown;
  grown.reserve(capacity);
  for (std::size_t i = 0; i < size_; ++i) grown.push_back(At(i));
  grown.resize(capacity);
  ring_.swap(grown);
  head_ = 0;
}

bool InFlight::Add(const InFlightRequest& request) {
  if (max_ == 0) return false;
  bool forgot = false;
  if (size_ == max_) {  // full: the oldest gives way
    head_ = (head_ + 1) % ring_.size();
    --size_;
    forgot = true;
  } else if (size_ == ring_.size()) {
    Grow();
  }
  ring_[(head_ + size_) % ring_.size()] = request;
  ++size_;
  return !forgot;
}

std::optional<InFlightRequest> InFlight::Take(int32_t correlation_id) {
  for (std::size_t i = 0; i < size_; ++i) {
    const InFlightRequest found = At(i);
    if (found.correlation_id != correlation_id) continue;
    head_ = (head_ + i + 1) % ring_.size();
    size_ -= i + 1;
    if (size_ == 0) {
      head_ = 0;
      if (ring_.size() > kRetainEntries) std::vector<InFlightRequest>().swap(ring_);
    }
    return found;
  }
  return std::nullopt;
}

void InFlight::Clear() {
  std::vector<InFlightRequest>().swap(ring_);
  head_ = 0;
  size_ = 0;
}

}  // namespace tracegap::kafka

#include "write_progress.hpp"

#include <algorithm>

#include "check.hpp"

namespace relay {

std::size_t WriteProgress::account(std::size_t written, std::span<const std::size_t> ends) noexcept {
  const std::size_t reached = written + partial_;
  RELAY_ASSERT(ends.empty() || reached <= ends.back(), "a write cannot cover more than was framed");
  // ends is increasing: the messages whole after this write are those ending at or before `reached`.
  const auto whole = static_cast<std::size_t>(std::upper_bound(ends.begin(), ends.end(), reached) - ends.begin());
  partial_ = reached - (whole > 0 ? ends[whole - 1] : 0);
  return whole;
}

void WriteProgress::carry(std::string framed, std::size_t messages) {
  RELAY_ASSERT(partial_ < framed.size(), "a carried message is one that is not fully written");
  RELAY_ASSERT(messages > 0, "a carry holds at least one message");
  carry_ = std::move(framed);
  carry_messages_ = messages;
  carry_sent_ = partial_;
  partial_ = 0;
}

std::span<const char> WriteProgress::carry_rest() const noexcept {
  return std::span<const char>(carry_).subspan(carry_sent_);
}

bool WriteProgress::carry_written(std::size_t n) noexcept {
  carry_sent_ += n;
  RELAY_ASSERT(carry_sent_ <= carry_.size(), "wrote more than the carried message");
  if (carry_sent_ < carry_.size()) return false;
  carry_.clear();
  carry_sent_ = 0;
  carry_messages_ = 0;
  return true;
}

bool WriteProgress::connection_lost() noexcept {
  const bool cut = partial_ > 0 || carry_sent_ > 0;
  partial_ = 0;
  carry_sent_ = 0;
  return cut;
}

}  // namespace relay

#include "drains.hpp"

#include <algorithm>

namespace relay {

bool Drains::removing(std::uint64_t id) const noexcept {
  return std::ranges::any_of(entries_, [&](const Entry& e) { return e.id == id && e.cmd; });
}

void Drains::forget(std::uint64_t id) {
  std::erase_if(entries_, [&](const Entry& e) { return e.id == id; });
}

void Drains::add(Entry e) {
  const auto it = std::ranges::find_if(entries_, [&](const Entry& x) { return x.id == e.id; });
  if (it == entries_.end()) {
    entries_.push_back(std::move(e));
    return;
  }
  it->cmd = std::move(e.cmd);
  it->immediate = e.immediate;
  it->deadline = std::min(it->deadline, e.deadline);
  it->target = std::max(it->target, e.target);
}

void Drains::drain_to(std::uint64_t id, std::uint64_t tail, ev_tstamp deadline) {
  const auto it = std::ranges::find_if(entries_, [&](const Entry& e) { return e.id == id; });
  if (it == entries_.end()) {
    entries_.push_back(Entry{id, tail, deadline, nullptr});
    return;
  }
  it->deadline = std::min(it->deadline, deadline);
  it->target = std::max(it->target, tail);
}

std::vector<Drains::Finished> Drains::take_finished(ev_tstamp now, const std::function<bool(const Entry&)>& done) {
  std::vector<Finished> out;
  std::erase_if(entries_, [&](const Entry& e) {
    const bool reached = done(e);
    if (!reached && now < e.deadline) return false;
    out.push_back({e, e.immediate ? Finish::immediate : reached ? Finish::drained : Finish::timed_out});
    return true;
  });
  return out;
}

}  // namespace relay

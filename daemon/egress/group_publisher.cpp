#include "group_publisher.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <string>
#include <vector>

#include "group_member.hpp"
#include "shard.hpp"

namespace relay {

namespace {

constexpr std::size_t kDefaultInFlight = 65536;
constexpr std::size_t kMaxInFlight = std::size_t{1} << 20;
constexpr std::size_t kMaxMembers = 64;  // as many as an address may list (publisher_endpoint.cpp)

// Another well-spread hash from one (splitmix64's finalizer): the next replica's.
std::uint64_t remix(std::uint64_t h) noexcept {
  h += 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

struct GroupOptions {
  ShardKey key{ShardKeyKind::first_field, 0, 0};
  std::size_t replicas = 1;
  std::size_t in_flight = kDefaultInFlight;
};

[[noreturn]] void bad(const Endpoint& ep, const std::string& why) {
  throw EndpointError(fmt::format("bad address \"{}\": {}", ep.str(), why));
}

std::size_t number(const Endpoint& ep, std::string_view name, std::string_view text, std::size_t lo, std::size_t hi) {
  std::size_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi)
    bad(ep, fmt::format("{}={}: expected a number {}..{}", name, text, lo, hi));
  return v;
}

ShardKey parse_key(const Endpoint& ep, std::string_view v) {
  constexpr std::size_t kMaxKeyBytes = 65535;
  if (const auto key = parse_shard_key(v, kMaxKeyBytes)) return *key;
  bad(ep,
      fmt::format("key={}: expected key=field, key=payload or key=bytes:OFFSET-LENGTH (each 0..{}, LENGTH 1 or more)",
                  v, kMaxKeyBytes));
}

GroupOptions parse_options(const Endpoint& ep) {
  GroupOptions o;
  for (const auto& [k, v] : ep.options) {
    if (k == "key" && ep.group == GroupMode::hash)
      o.key = parse_key(ep, v);
    else if (k == "replicas" && ep.group == GroupMode::hash)
      o.replicas = number(ep, k, v, 1, ep.members.size());
    else if (k == "inflight")
      o.in_flight = number(ep, k, v, 1, kMaxInFlight);
    else
      bad(ep, fmt::format("unknown option \"{}\" (a {}@ group takes framing=, {}inflight=)", k, to_string(ep.group),
                          ep.group == GroupMode::hash ? "key=, replicas=, " : ""));
  }
  return o;
}

class GroupPublisher final : public Publisher, private GroupMemberEvents {
 public:
  GroupPublisher(const Endpoint& ep, GroupOptions options)
      : endpoint_(ep), options_(options), slots_(std::bit_ceil(options.in_flight)) {}

  void start(struct ev_loop* loop, PublishEvents& events, DestinationShared& shared) override {
    events_ = &events;
    shared_ = &shared;
    for (const auto& m : endpoint_.members)
      members_.push_back(std::make_unique<GroupMember>(loop, m, timing_, static_cast<GroupMemberEvents&>(*this)));
    seen_.resize(members_.size());
    for (auto& m : members_) m->start();
  }

  bool publish(std::uint64_t id, std::span<const std::byte> payload) override;
  void poll() override;
  std::size_t max_in_flight() const noexcept override { return options_.in_flight; }
  void set_timing(const DestinationConfig& cfg) override {
    timing_ = cfg;
    for (auto& m : members_) m->set_timing(cfg);
  }

 private:
  struct Slot {
    std::uint64_t id = 0;
    std::uint32_t generation = 0;
    std::uint32_t waiting = 0;  // copies not acknowledged yet
    bool reported = true;       // nothing in flight in this slot
  };
  struct Report {
    std::uint64_t id;
    bool ok;
    std::string why;
  };
  // Connection counters the members keep, summed into the group's own as they grow.
  struct Seen {
    std::uint64_t connects = 0, reconnects = 0, connect_failures = 0, disconnects = 0;
  };

  void member_acked(std::uint64_t id, std::uint32_t generation) override;
  void member_lost(std::uint64_t id, std::uint32_t generation, std::string_view why) override;
  void member_changed() override { events_->wake(); }

  Slot* slot_of(std::uint64_t id, std::uint32_t generation) noexcept {
    Slot& s = slots_[id & (slots_.size() - 1)];
    return s.id == id && s.generation == generation && !s.reported ? &s : nullptr;
  }
  std::size_t pick(std::span<const std::byte> payload, std::span<std::size_t> out);
  void sum_counters();
  void show_state();

  Endpoint endpoint_;
  GroupOptions options_;
  DestinationConfig timing_;
  PublishEvents* events_ = nullptr;
  DestinationShared* shared_ = nullptr;
  std::vector<std::unique_ptr<GroupMember>> members_;
  std::vector<Seen> seen_;
  std::vector<Slot> slots_;
  std::vector<Report> reports_;              // waiting for poll(): never reported from inside publish()
  std::array<bool, kMaxMembers> healthy_{};  // scratch for pick()
  std::size_t shown_up_ = kMaxMembers + 1;   // members up when last told
  std::uint32_t generation_ = 0;
  bool picked_elsewhere_ = false;  // pick(): a hash group's own member for the key is down
};

// The members message goes to, in `out` (room for every member); returns how many (0: none
// is healthy). Notes when a hash group's own member for the key is down (counted as rerouted
// once the message is taken).
std::size_t GroupPublisher::pick(std::span<const std::byte> payload, std::span<std::size_t> out) {
  for (std::size_t i = 0; i < members_.size(); ++i) healthy_[i] = members_[i]->up();
  switch (endpoint_.group) {
    case GroupMode::failover: {
      for (std::size_t i = 0; i < members_.size(); ++i) {
        if (!healthy_[i]) continue;
        out[0] = i;
        return 1;
      }
      return 0;
    }
    case GroupMode::any: {
      std::size_t best = members_.size();
      for (std::size_t i = 0; i < members_.size(); ++i)
        if (healthy_[i] && (best == members_.size() || members_[i]->backlog() < members_[best]->backlog())) best = i;
      if (best == members_.size()) return 0;
      out[0] = best;
      return 1;
    }
    case GroupMode::hash: break;
  }
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  std::uint64_t hash = key_hash(key_of(text, options_.key));
  const std::span<const bool> open(healthy_.data(), members_.size());
  std::size_t count = 0;
  for (std::size_t r = 0; r < options_.replicas; ++r) {
    const std::size_t m = pick_member(hash, open);
    if (m == members_.size()) break;
    if (r == 0) picked_elsewhere_ = m != jump_bucket(hash, static_cast<std::uint32_t>(members_.size()));
    out[count++] = m;
    healthy_[m] = false;  // the next replica goes elsewhere
    hash = remix(hash);
  }
  return count;
}

bool GroupPublisher::publish(std::uint64_t id, std::span<const std::byte> payload) {
  std::array<std::size_t, kMaxMembers> to{};
  picked_elsewhere_ = false;
  const std::size_t n = pick(payload, to);
  if (n == 0) return false;
  for (std::size_t i = 0; i < n; ++i)
    if (members_[to[i]]->full()) return false;
  Slot& s = slots_[id & (slots_.size() - 1)];
  s = Slot{id, ++generation_, static_cast<std::uint32_t>(n), false};
  for (std::size_t i = 0; i < n; ++i) members_[to[i]]->send(id, s.generation, payload);
  if (picked_elsewhere_) shared_->counters.rerouted.add();
  return true;
}

void GroupPublisher::member_acked(std::uint64_t id, std::uint32_t generation) {
  Slot* s = slot_of(id, generation);
  if (s == nullptr || --s->waiting > 0) return;
  s->reported = true;
  reports_.push_back({id, true, {}});
  events_->wake();
}

void GroupPublisher::member_lost(std::uint64_t id, std::uint32_t generation, std::string_view why) {
  Slot* s = slot_of(id, generation);
  if (s == nullptr) return;  // another copy was lost first: reported already
  s->reported = true;
  reports_.push_back({id, false, std::string(why)});
  events_->wake();
}

void GroupPublisher::poll() {
  for (auto& m : members_) m->poll_acks();
  std::vector<Report> now;
  now.swap(reports_);
  for (const Report& r : now) {
    if (r.ok)
      events_->acknowledged(r.id);
    else
      events_->failed(r.id, r.why);
  }
  sum_counters();
  show_state();
}

// The group's connection counters are its members' together.
void GroupPublisher::sum_counters() {
  for (std::size_t i = 0; i < members_.size(); ++i) {
    const DestinationCounters& c = members_[i]->shared().counters;
    Seen& seen = seen_[i];
    const auto grow = [](Counter& total, std::uint64_t now, std::uint64_t& was) {
      total.add(now - was);
      was = now;
    };
    grow(shared_->counters.connects, c.connects.get(), seen.connects);
    grow(shared_->counters.reconnects, c.reconnects.get(), seen.reconnects);
    grow(shared_->counters.connect_failures, c.connect_failures.get(), seen.connect_failures);
    grow(shared_->counters.disconnects, c.disconnects.get(), seen.disconnects);
  }
}

// Connected while any member is. Told to the destination when the number of members up
// changes, with the reason of a member that is down.
void GroupPublisher::show_state() {
  std::size_t up = 0;
  std::string why;
  for (const auto& m : members_) {
    if (m->up()) {
      ++up;
      continue;
    }
    const auto err = m->shared().last_error.load(std::memory_order_acquire);  // acquire: the string is whole
    if (err && why.empty()) why = fmt::format("member {}: {}", m->shared().endpoint.str(), *err);
  }
  if (up == shown_up_) return;
  shown_up_ = up;
  if (up < members_.size() && why.empty()) why = "member connecting";
  events_->connection(up > 0 ? DestinationState::connected : DestinationState::backing_off,
                      why.empty() ? why : fmt::format("{} of {} members up; {}", up, members_.size(), why));
}

}  // namespace

void check_group_publisher(const Endpoint& endpoint) { parse_options(endpoint); }

std::unique_ptr<Publisher> make_group_publisher(const Endpoint& endpoint) {
  return std::make_unique<GroupPublisher>(endpoint, parse_options(endpoint));
}

}  // namespace relay

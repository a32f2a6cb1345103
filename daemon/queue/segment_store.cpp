#include "segment_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "clock.hpp"
#include "private_directory.hpp"
#include "segment_file.hpp"

namespace relay {

namespace {

constexpr const char* kPrefix = "seg-";
constexpr const char* kSuffix = ".dat";

std::string reason() { return std::strerror(errno); }

// seg-00000042.dat -> 42; anything else is not ours.
std::optional<std::size_t> file_index(std::string_view name) {
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return std::nullopt;
  const std::string_view digits = name.substr(4, name.size() - 8);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  return std::stoull(std::string(digits));
}

std::vector<std::size_t> segment_files(const std::string& dir) {
  std::vector<std::size_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) throw std::runtime_error(fmt::format("data directory {}: cannot list: {}", dir, reason()));
  while (const dirent* e = ::readdir(d))
    if (const auto i = file_index(e->d_name)) out.push_back(*i);
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// A segment as recovered: its place and what checked out.
struct Found {
  std::unique_ptr<Segment> seg;
  segment_file::Contents contents;
};

// The newest run of segments whose ids follow on: [start, end) of `found` (sorted by first_id).
std::size_t newest_run_start(const std::vector<Found>& found) {
  std::size_t start = found.size() - 1;
  while (start > 0) {
    const auto& prev = found[start - 1].contents;
    if (prev.first_id + prev.good.count != found[start].contents.first_id) break;
    --start;
  }
  return start;
}

// One file: mapped, its header and batches checked, a damaged tail cut (and counted). nullopt
// when it cannot be mapped (left alone); throws when it was made for another segment size.
std::optional<Found> check_file(const std::string& dir, const std::string& path, std::size_t capacity,
                                RecoveryReport& r) {
  auto seg = std::make_unique<Segment>();
  std::string error;
  if (!segment_file::open(path, *seg, error)) {
    r.problems.push_back(fmt::format("{}: {}; left as it is", path, error));
    return std::nullopt;
  }
  ++r.files;
  if (seg->capacity != capacity) {
    segment_file::unmap(*seg);
    throw std::runtime_error(fmt::format(
        "data directory {}: {} holds segments of {} bytes, but --max-message-size now needs {}: start with the "
        "old --max-message-size until the queue is delivered, or move the directory away",
        dir, path, seg->capacity, capacity));
  }
  segment_file::Contents contents = segment_file::read(*seg);
  Found f{std::move(seg), std::move(contents)};
  if (!f.contents.problem.empty() && f.contents.valid_header) {
    r.problems.push_back(fmt::format("{}: {}: {} messages lost; the segment is cut after its {} good ones", path,
                                     f.contents.problem, f.contents.torn_messages, f.contents.good.count));
    r.corrupt_messages += f.contents.torn_messages;
    segment_file::truncate(*f.seg, f.contents.good_entries);
    ++r.truncated_segments;
  } else if (!f.contents.valid_header && f.contents.problem != "no segment header") {
    r.problems.push_back(fmt::format("{}: {}; reused", path, f.contents.problem));
  }
  return f;
}

// The queue resumes with the newest run of contiguous ids (at most the budget less the segment to
// write into), linked in order; the older segments become spares.
void take_newest_run(std::vector<Found>& found, std::size_t max_segments, Recovery& out) {
  if (found.empty()) return;
  RecoveryReport& r = out.report;
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.contents.first_id < b.contents.first_id; });
  std::size_t start = newest_run_start(found);
  if (found.size() - start > max_segments - 1) start = found.size() - (max_segments - 1);
  for (std::size_t i = 0; i < found.size(); ++i) {
    auto& f = found[i];
    if (i < start) {  // before a gap: delivered long ago, or cut off by a lost segment (see resume)
      r.discarded_messages += f.contents.good.count;
      out.spare.push_back(std::move(f.seg));
      continue;
    }
    f.seg->first_id = f.contents.first_id;
    // relaxed (this and the links below): start-up, no other thread yet.
    f.seg->committed.store(f.contents.good.pack(), std::memory_order_relaxed);
    out.chain.push_back(std::move(f.seg));
  }
  for (std::size_t i = 0; i + 1 < out.chain.size(); ++i)
    out.chain[i]->next.store(out.chain[i + 1].get(), std::memory_order_relaxed);
  r.segments = out.chain.size();
  r.head = out.chain.front()->first_id;
  const auto last = Committed::unpack(out.chain.back()->committed.load(std::memory_order_relaxed));
  r.tail = out.chain.back()->first_id + last.count;
  r.messages = r.tail - r.head;
}

}  // namespace

SegmentStore::SegmentStore(std::string dir, std::size_t capacity) : dir_(std::move(dir)), capacity_(capacity) {
  if (const std::string why = make_private_directory(dir_); !why.empty())
    throw std::runtime_error(fmt::format("data directory {}: {}", dir_, why));
  const std::string lock = dir_ + "/lock";
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0)
    throw std::runtime_error(fmt::format("data directory {}: cannot open {}: {}", dir_, lock, reason()));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string why = errno == EWOULDBLOCK ? "another relayd uses this data directory" : reason();
    ::close(lock_fd_);
    throw std::runtime_error(fmt::format("data directory {}: cannot lock {}: {}", dir_, lock, why));
  }
}

SegmentStore::~SegmentStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string SegmentStore::path_of(std::size_t index) const {
  return fmt::format("{}/{}{:08}{}", dir_, kPrefix, index, kSuffix);
}

Recovery SegmentStore::recover(std::size_t max_segments) {
  Recovery out;
  std::vector<Found> found;
  for (const std::size_t index : segment_files(dir_)) {
    next_index_ = std::max(next_index_, index + 1);
    auto f = check_file(dir_, path_of(index), capacity_, out.report);
    if (!f) continue;
    if (f->contents.valid_header && f->contents.good.count > 0)
      found.push_back(std::move(*f));
    else
      out.spare.push_back(std::move(f->seg));
  }
  take_newest_run(found, max_segments, out);
  return out;
}

std::unique_ptr<Segment> SegmentStore::create() {
  auto seg = std::make_unique<Segment>();
  std::string error;
  const std::string path = path_of(next_index_);
  if (segment_file::create(path, capacity_, *seg, error)) {
    ++next_index_;
    return seg;
  }
  ::unlink(path.c_str());
  if (error_log_.allow(steady_ns()))
    spdlog::error(
        "data directory {}: cannot make segment file {}: {}; messages are dropped (dropped_queue_full) "
        "until a segment is free",
        dir_, path, error);
  return nullptr;
}

}  // namespace relay

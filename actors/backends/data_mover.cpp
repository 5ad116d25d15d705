#include "actors/backends/data_mover.hpp"

#include "actors/core/errc.hpp"

#include <liburing.h>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <new>
#include <optional>
#include <utility>
#include <vector>

namespace olocal {

namespace {

using clock_type = std::chrono::steady_clock;

/// Offsets, lengths and buffer addresses of O_DIRECT operations are multiples
/// of this: it covers 512-byte and 4 KiB logical blocks (devices and the file
/// systems on them). Anything else goes through the buffered descriptor.
constexpr uint64_t direct_alignment = 4096;

constexpr size_t max_block_bytes = size_t{1} << 30; // io_uring lengths are 32-bit
constexpr unsigned max_queue_depth = 256;

/// BLKZEROOUT and BLKDISCARD run in pieces of this size, so that a wipe can be
/// cancelled and reports progress.
constexpr uint64_t ioctl_piece_bytes = uint64_t{1} << 30;

std::string errno_text(int err) {
  return std::strerror(err);
}

uint64_t align_up(uint64_t value, uint64_t alignment) {
  return (value + alignment - 1) / alignment * alignment;
}

bool is_aligned(uint64_t value) {
  return value % direct_alignment == 0;
}

errc errc_of_open(int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
    return errc::not_found;
  case EACCES:
  case EPERM:
  case EROFS:
    return errc::permission_denied;
  case EBUSY:
    return errc::device_busy;
  default:
    return errc::io_error;
  }
}

class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
};

struct free_deleter {
  void operator()(void* p) const { std::free(p); }
};

using aligned_buffer = std::unique_ptr<char, free_deleter>;

caf::expected<aligned_buffer> allocate(size_t bytes, const std::string& op) {
  void* p = nullptr;
  if (int err = posix_memalign(&p, direct_alignment, bytes); err != 0)
    return make_error(errc::resource_exhausted,
                      op + ": cannot allocate " + std::to_string(bytes) + " aligned bytes");
  return aligned_buffer{static_cast<char*>(p)};
}

// -- the files at both ends ----------------------------------------------------

/// One end of a transfer: a buffered descriptor (always) and an O_DIRECT one
/// (when the file system allows it). Each operation picks the direct one when
/// its offset, length and buffer are aligned.
struct endpoint {
  std::string path;
  std::string role; ///< "source" or "destination", for messages
  unique_fd buffered;
  unique_fd direct;
  unique_fd claim; ///< O_EXCL hold on a destination block device
  bool block_device = false;
  uint64_t size = 0;

  int fd_for(uint64_t offset, uint64_t len, const void* buf) const {
    if (direct && is_aligned(offset) && is_aligned(len) &&
        is_aligned(reinterpret_cast<uintptr_t>(buf)))
      return direct.get();
    return buffered.get();
  }
};

int open_retrying(const std::string& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

/// Opens `path` for reading or writing. A block device that `claim` asks for
/// is also opened with O_EXCL, which fails with EBUSY while it is mounted or
/// held by another exclusive user (device-mapper, md, a mkfs...).
caf::expected<endpoint> open_endpoint(const std::string& path, std::string role, bool for_write,
                                      bool want_direct, bool claim, const std::string& op) {
  endpoint ep;
  ep.path = path;
  ep.role = std::move(role);
  auto what = op + ": " + ep.role + " " + path;
  int flags = for_write ? O_WRONLY : O_RDONLY;
  ep.buffered = unique_fd{open_retrying(path, flags)};
  if (!ep.buffered) {
    int err = errno;
    return make_error(errc_of_open(err), what + ": open: " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(ep.buffered.get(), &st) != 0) {
    int err = errno;
    return make_error(errc::io_error, what + ": fstat: " + errno_text(err));
  }
  if (S_ISBLK(st.st_mode)) {
    ep.block_device = true;
    uint64_t size = 0;
    if (::ioctl(ep.buffered.get(), BLKGETSIZE64, &size) != 0) {
      int err = errno;
      return make_error(errc::io_error, what + ": ioctl BLKGETSIZE64: " + errno_text(err));
    }
    ep.size = size;
    if (claim) {
      ep.claim = unique_fd{open_retrying(path, O_RDONLY | O_EXCL)};
      if (!ep.claim) {
        int err = errno;
        return make_error(err == EBUSY ? errc::device_busy : errc_of_open(err),
                          what + ": exclusive open: " + errno_text(err) +
                            (err == EBUSY ? " (mounted or in use)" : ""));
      }
    }
  } else if (S_ISREG(st.st_mode)) {
    ep.size = static_cast<uint64_t>(st.st_size);
  } else {
    return make_error(errc::invalid_argument, what + ": not a regular file or block device");
  }
  if (want_direct) {
    ep.direct = unique_fd{open_retrying(path, flags | O_DIRECT)};
    if (!ep.direct) {
      int err = errno;
      // EINVAL: the file system refuses O_DIRECT; the buffered descriptor
      // then does all the work and the result reports direct = false.
      if (err != EINVAL)
        return make_error(errc_of_open(err), what + ": open O_DIRECT: " + errno_text(err));
    }
  }
  return ep;
}

// -- one transfer ----------------------------------------------------------------

/// What an engine moves: [start, end) of `destination`, read from the same
/// offsets of `source`, or zeroes when there is no source.
struct transfer {
  std::string op; ///< "copy_range" or "zero_range", for messages
  const endpoint* source = nullptr;
  const endpoint* destination = nullptr;
  uint64_t start = 0;
  uint64_t end = 0;
  size_t block = 0;
  const mover_options* opts = nullptr;

  /// The next piece from `pos`: up to the next aligned offset when `pos` is
  /// not aligned, else one block (the last one may be short).
  uint64_t chunk_at(uint64_t pos) const {
    uint64_t limit = is_aligned(pos) ? pos + block : align_up(pos, direct_alignment);
    return std::min(limit, end) - pos;
  }

  /// Set when a caller's callback threw: the transfer stops as if cancelled
  /// (never unwinding past buffers the kernel may still use) and fails with
  /// errc::internal.
  mutable std::string callback_failure;

  bool cancelled() const {
    if (!callback_failure.empty())
      return true;
    if (!opts->cancelled)
      return false;
    try {
      return opts->cancelled();
    } catch (const std::exception& e) {
      callback_failure = std::string{"cancelled callback threw: "} + e.what();
    } catch (...) {
      callback_failure = "cancelled callback threw";
    }
    return true;
  }

  void report(uint64_t done) const {
    if (!opts->progress || !callback_failure.empty())
      return;
    try {
      opts->progress(done, end - start);
    } catch (const std::exception& e) {
      callback_failure = std::string{"progress callback threw: "} + e.what();
    } catch (...) {
      callback_failure = "progress callback threw";
    }
  }

  caf::error callback_error() const {
    return make_error(errc::internal, op + " " + destination->path + ": " + callback_failure);
  }

  caf::error aborted_error(uint64_t done) const {
    return make_error(errc::aborted, op + " " + destination->path + ": cancelled after " +
                                       std::to_string(done) + " of " + std::to_string(end - start) +
                                       " bytes");
  }

  caf::error io_failure(const endpoint& ep, const char* verb, uint64_t offset, int err) const {
    return make_error(errc::io_error, op + ": " + verb + " " + ep.role + " " + ep.path +
                                        " at offset " + std::to_string(offset) + ": " +
                                        errno_text(err));
  }

  caf::error early_end(const endpoint& ep, const char* verb, uint64_t offset) const {
    return make_error(errc::io_error, op + ": " + verb + " " + ep.role + " " + ep.path +
                                        " at offset " + std::to_string(offset) +
                                        ": unexpected end of file (no progress)");
  }
};

// -- pread engine ------------------------------------------------------------------

caf::error read_full(const transfer& t, char* buf, uint64_t offset, uint64_t len) {
  const auto& ep = *t.source;
  uint64_t got = 0;
  while (got < len) {
    auto n = ::pread(ep.fd_for(offset + got, len - got, buf + got), buf + got, len - got,
                     static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return t.io_failure(ep, "read", offset + got, errno);
    }
    if (n == 0)
      return t.early_end(ep, "read", offset + got);
    got += static_cast<uint64_t>(n);
  }
  return {};
}

caf::error write_full(const transfer& t, const char* buf, uint64_t offset, uint64_t len) {
  const auto& ep = *t.destination;
  uint64_t put = 0;
  while (put < len) {
    auto n = ::pwrite(ep.fd_for(offset + put, len - put, buf + put), buf + put, len - put,
                      static_cast<off_t>(offset + put));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return t.io_failure(ep, "write", offset + put, errno);
    }
    if (n == 0)
      return t.early_end(ep, "write", offset + put);
    put += static_cast<uint64_t>(n);
  }
  return {};
}

caf::error run_pread(const transfer& t, uint64_t& done) {
  auto buf = allocate(t.block, t.op);
  if (!buf)
    return std::move(buf.error());
  if (!t.source)
    std::memset(buf->get(), 0, t.block);
  for (uint64_t pos = t.start; pos < t.end;) {
    if (t.cancelled())
      return t.callback_failure.empty() ? t.aborted_error(done) : t.callback_error();
    auto len = t.chunk_at(pos);
    if (t.source)
      if (auto err = read_full(t, buf->get(), pos, len))
        return err;
    if (auto err = write_full(t, buf->get(), pos, len))
      return err;
    pos += len;
    done += len;
    t.report(done);
  }
  return {};
}

// -- io_uring engine ---------------------------------------------------------------

class ring {
public:
  ring() = default;
  ring(const ring&) = delete;
  ring& operator=(const ring&) = delete;
  ~ring() {
    if (ready_)
      io_uring_queue_exit(&ring_);
  }

  /// "" on success, else why io_uring cannot be used.
  std::string init(unsigned entries) {
    // liburing 2.3 returns -errno and never sets errno.
    if (int ret = io_uring_queue_init(entries, &ring_, 0); ret < 0)
      return "io_uring_queue_init: " + errno_text(-ret);
    ready_ = true;
    auto* probe = io_uring_get_probe_ring(&ring_);
    if (!probe)
      return "io_uring: the kernel cannot be probed for opcodes (Linux < 5.6)";
    bool ok = io_uring_opcode_supported(probe, IORING_OP_READ) &&
              io_uring_opcode_supported(probe, IORING_OP_WRITE);
    io_uring_free_probe(probe);
    if (!ok)
      return "io_uring: the kernel lacks IORING_OP_READ/IORING_OP_WRITE (Linux < 5.6)";
    return {};
  }

  io_uring* get() { return &ring_; }

private:
  io_uring ring_{};
  bool ready_ = false;
};

/// One buffer of the pipeline and the block it currently carries.
struct slot {
  enum class stage { idle, reading, writing };
  char* buf = nullptr;
  uint64_t offset = 0;
  uint64_t len = 0;
  uint64_t done = 0; ///< bytes of the current stage already transferred
  stage state = stage::idle;
};

class uring_pipeline {
public:
  uring_pipeline(const transfer& t, ring& r, unsigned depth) : t_(t), ring_(r), depth_(depth) {}

  /// Runs the transfer. Returns an error after every operation in flight has
  /// completed, so that no buffer is released while the kernel uses it.
  caf::error run(uint64_t& done) {
    if (auto err = allocate_buffers())
      return err;
    uint64_t next = t_.start;
    unsigned in_flight = 0;
    bool cancelled = false;
    for (;;) {
      if (!stop_ && !cancelled) {
        for (auto& s : slots_) {
          if (next >= t_.end)
            break;
          if (s.state != slot::stage::idle)
            continue;
          if (t_.cancelled()) {
            cancelled = true;
            break;
          }
          s.offset = next;
          s.len = t_.chunk_at(next);
          s.done = 0;
          next += s.len;
          s.state = t_.source ? slot::stage::reading : slot::stage::writing;
          queue(s);
          ++in_flight;
        }
      }
      if (in_flight == 0)
        break;
      int ret = io_uring_submit_and_wait(ring_.get(), 1);
      if (ret < 0) {
        if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
          continue;
        // The kernel may still own some buffers: leak them rather than let
        // it write into freed memory. Practically unreachable.
        for (auto& b : buffers_)
          (void) b.release();
        return make_error(errc::io_error, t_.op + ": io_uring_submit on " + t_.destination->path +
                                            ": " + errno_text(-ret));
      }
      io_uring_cqe* cqe = nullptr;
      while (io_uring_peek_cqe(ring_.get(), &cqe) == 0 && cqe) {
        auto& s = slots_[static_cast<size_t>(io_uring_cqe_get_data64(cqe))];
        int res = cqe->res;
        io_uring_cqe_seen(ring_.get(), cqe);
        --in_flight;
        if (complete(s, res, done, cancelled))
          ++in_flight;
      }
    }
    if (failure_)
      return std::move(failure_);
    if (!t_.callback_failure.empty())
      return t_.callback_error();
    if (cancelled)
      return t_.aborted_error(done);
    return {};
  }

private:
  caf::error allocate_buffers() {
    size_t count = t_.source ? depth_ : 1; // zeroing shares one zero buffer
    for (size_t i = 0; i < count; ++i) {
      auto buf = allocate(t_.block, t_.op);
      if (!buf)
        return std::move(buf.error());
      if (!t_.source)
        std::memset(buf->get(), 0, t_.block);
      buffers_.push_back(std::move(*buf));
    }
    slots_.resize(depth_);
    for (size_t i = 0; i < slots_.size(); ++i)
      slots_[i].buf = buffers_[t_.source ? i : 0].get();
    return {};
  }

  /// Prepares the rest of the slot's current stage (submitted by the next
  /// io_uring_submit_and_wait).
  void queue(slot& s) {
    auto* sqe = io_uring_get_sqe(ring_.get());
    if (!sqe) { // cannot happen with one entry per slot, but stay correct
      io_uring_submit(ring_.get());
      sqe = io_uring_get_sqe(ring_.get());
    }
    char* buf = s.buf + s.done;
    uint64_t offset = s.offset + s.done;
    auto len = static_cast<unsigned>(s.len - s.done);
    if (s.state == slot::stage::reading)
      io_uring_prep_read(sqe, t_.source->fd_for(offset, len, buf), buf, len, offset);
    else
      io_uring_prep_write(sqe, t_.destination->fd_for(offset, len, buf), buf, len, offset);
    io_uring_sqe_set_data64(sqe, static_cast<uint64_t>(&s - slots_.data()));
  }

  /// Handles one completion; true if it queued a follow-up operation.
  bool complete(slot& s, int res, uint64_t& done, bool cancelled) {
    bool reading = s.state == slot::stage::reading;
    const auto& ep = reading ? *t_.source : *t_.destination;
    const char* verb = reading ? "read" : "write";
    if (res == -EINTR || res == -EAGAIN) {
      if (stop_) {
        s.state = slot::stage::idle;
        return false;
      }
      queue(s); // retry the same piece
      return true;
    }
    if (res <= 0) {
      if (!failure_)
        failure_ = res < 0 ? t_.io_failure(ep, verb, s.offset + s.done, -res)
                           : t_.early_end(ep, verb, s.offset + s.done);
      stop_ = true;
      s.state = slot::stage::idle;
      return false;
    }
    s.done += static_cast<uint64_t>(res);
    if (s.done < s.len) { // short transfer: resubmit the rest
      if (stop_) {
        s.state = slot::stage::idle;
        return false;
      }
      queue(s);
      return true;
    }
    if (reading) {
      if (stop_ || cancelled) { // nothing more is written once stopped
        s.state = slot::stage::idle;
        return false;
      }
      s.state = slot::stage::writing;
      s.done = 0;
      queue(s);
      return true;
    }
    done += s.len;
    s.state = slot::stage::idle;
    t_.report(done);
    return false;
  }

  const transfer& t_;
  ring& ring_;
  unsigned depth_;
  std::vector<aligned_buffer> buffers_;
  std::vector<slot> slots_;
  caf::error failure_;
  bool stop_ = false;
};

// -- shared driver -------------------------------------------------------------------

caf::error validate(const mover_options& opts, const std::string& what) {
  if (opts.block_bytes == 0 || opts.block_bytes > max_block_bytes)
    return make_error(errc::invalid_argument, what + ": block_bytes must be 1 .. " +
                                                std::to_string(max_block_bytes) + ", not " +
                                                std::to_string(opts.block_bytes));
  if (opts.queue_depth == 0 || opts.queue_depth > max_queue_depth)
    return make_error(errc::invalid_argument, what + ": queue_depth must be 1 .. " +
                                                std::to_string(max_queue_depth) + ", not " +
                                                std::to_string(opts.queue_depth));
  return {};
}

/// Picks the engine, runs the transfer and syncs the destination.
caf::expected<mover_result> run_transfer(transfer& t, clock_type::time_point started) {
  const auto& opts = *t.opts;
  t.block = static_cast<size_t>(align_up(opts.block_bytes, direct_alignment));
  mover_result result;
  result.direct = opts.direct && t.destination->direct && (!t.source || t.source->direct);
  uint64_t done = 0;
  caf::error err;
  std::optional<ring> uring;
  if (opts.engine == mover_options::engine::pread) {
    result.fallback_reason = "engine pread requested";
  } else {
    uring.emplace();
    result.fallback_reason = uring->init(opts.queue_depth);
    if (!result.fallback_reason.empty() && opts.engine == mover_options::engine::io_uring)
      return make_error(errc::unimplemented,
                        t.op + " " + t.destination->path +
                          ": engine io_uring requested but unavailable: " + result.fallback_reason);
  }
  if (result.fallback_reason.empty()) {
    result.engine = "io_uring";
    uring_pipeline pipeline{t, *uring, opts.queue_depth};
    err = pipeline.run(done);
  } else {
    uring.reset();
    result.engine = "pread";
    err = run_pread(t, done);
  }
  if (!err && !t.callback_failure.empty())
    err = t.callback_error(); // the last progress report threw
  if (err)
    return err;
  if (::fdatasync(t.destination->buffered.get()) != 0) {
    int e = errno;
    return make_error(errc::io_error, t.op + ": fdatasync destination " + t.destination->path +
                                        ": " + errno_text(e));
  }
  result.bytes = done;
  result.elapsed = clock_type::now() - started;
  return result;
}

caf::expected<mover_result> zero_range_impl(const std::string& destination, uint64_t offset,
                                            uint64_t bytes, const mover_options& opts, bool claim) {
  auto started = clock_type::now();
  const std::string op = "zero_range";
  if (auto err = validate(opts, op + " " + destination))
    return err;
  auto dst = open_endpoint(destination, "destination", true, opts.direct, claim, op);
  if (!dst)
    return std::move(dst.error());
  if (offset > dst->size || bytes > dst->size - offset)
    return make_error(errc::out_of_range, op + ": destination " + destination + " holds " +
                                            std::to_string(dst->size) + " bytes, the range [" +
                                            std::to_string(offset) + ", " +
                                            std::to_string(offset + bytes) + ") does not fit");
  transfer t;
  t.op = op;
  t.destination = &*dst;
  t.start = offset;
  t.end = offset + bytes;
  t.opts = &opts;
  return run_transfer(t, started);
}

/// Runs `body`, turning an exception (bad_alloc, or one from a filesystem
/// call) into an error: none escapes to the calling actor.
template <class Body>
auto guarded(const std::string& what, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return make_error(errc::resource_exhausted, what + ": out of memory");
  } catch (const std::exception& e) {
    return make_error(errc::internal, what + ": " + e.what());
  } catch (...) {
    return make_error(errc::internal, what + ": unknown exception");
  }
}

std::optional<uint64_t> read_u64(const std::filesystem::path& file) {
  std::ifstream in{file};
  uint64_t value = 0;
  if (!(in >> value))
    return std::nullopt;
  return value;
}

caf::expected<mover_result> copy_range_impl(const std::string& source,
                                            const std::string& destination, uint64_t bytes,
                                            const mover_options& opts) {
  auto started = clock_type::now();
  const std::string op = "copy_range";
  if (auto err = validate(opts, op + " " + source + " -> " + destination))
    return err;
  auto src = open_endpoint(source, "source", false, opts.direct, false, op);
  if (!src)
    return std::move(src.error());
  auto dst = open_endpoint(destination, "destination", true, opts.direct, true, op);
  if (!dst)
    return std::move(dst.error());
  if (src->size < bytes || dst->size < bytes)
    return make_error(errc::out_of_range,
                      op + ": cannot copy " + std::to_string(bytes) + " bytes: source " + source +
                        " holds " + std::to_string(src->size) + " bytes, destination " +
                        destination + " holds " + std::to_string(dst->size) + " bytes");
  transfer t;
  t.op = op;
  t.source = &*src;
  t.destination = &*dst;
  t.start = 0;
  t.end = bytes;
  t.opts = &opts;
  return run_transfer(t, started);
}

discard_caps read_discard_caps_impl(const std::filesystem::path& sysfs_block_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto dir = sysfs_block_dir.lexically_normal();
  if (!dir.has_filename())
    dir = dir.parent_path();
  // A partition has no queue/ of its own: its disk's is one level up
  // (/sys/class/block/sda1 -> .../block/sda/sda1).
  if (!fs::exists(dir / "queue", ec) && fs::exists(dir / "partition", ec)) {
    auto real = fs::weakly_canonical(dir, ec);
    dir = ec ? dir.parent_path() : real.parent_path();
  }
  discard_caps caps;
  caps.supported = read_u64(dir / "queue" / "discard_max_bytes").value_or(0) > 0;
  caps.zeroes_data = read_u64(dir / "queue" / "discard_zeroes_data").value_or(0) == 1;
  caps.write_zeroes_max_bytes = read_u64(dir / "queue" / "write_zeroes_max_bytes").value_or(0);
  return caps;
}

caf::expected<std::string> secure_wipe_impl(const std::string& device, uint64_t bytes,
                                            const std::filesystem::path& sysfs_block_dir,
                                            const mover_options& opts) {
  const std::string op = "secure_wipe";
  struct stat st {};
  if (::stat(device.c_str(), &st) != 0) {
    int err = errno;
    return make_error(errc_of_open(err), op + ": stat " + device + ": " + errno_text(err));
  }
  auto zero_fill = [&](uint64_t offset, uint64_t len, bool claim) -> caf::expected<std::string> {
    auto r = zero_range_impl(device, offset, len, opts, claim);
    if (!r)
      return std::move(r.error());
    return "zero_fill:" + r->engine;
  };
  if (S_ISREG(st.st_mode))
    return zero_fill(0, bytes, false);
  if (!S_ISBLK(st.st_mode))
    return make_error(errc::invalid_argument,
                      op + ": " + device + " is not a block device or regular file");

  // Hold the device exclusively for the whole wipe: a mounted or otherwise
  // claimed device is refused instead of being destroyed under its user.
  unique_fd fd{open_retrying(device, O_WRONLY | O_EXCL)};
  if (!fd) {
    int err = errno;
    return make_error(err == EBUSY ? errc::device_busy : errc_of_open(err),
                      op + ": exclusive open " + device + ": " + errno_text(err) +
                        (err == EBUSY ? " (mounted or in use)" : ""));
  }
  uint64_t size = 0;
  if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
    int err = errno;
    return make_error(errc::io_error,
                      op + ": ioctl BLKGETSIZE64 " + device + ": " + errno_text(err));
  }
  if (bytes > size)
    return make_error(errc::out_of_range, op + ": " + device + " holds " + std::to_string(size) +
                                            " bytes, fewer than the " + std::to_string(bytes) +
                                            " to wipe");
  int sector = 512;
  if (::ioctl(fd.get(), BLKSSZGET, &sector) != 0 || sector <= 0)
    sector = 512;
  uint64_t aligned = bytes / static_cast<uint64_t>(sector) * static_cast<uint64_t>(sector);

  auto caps = read_discard_caps(sysfs_block_dir);
  struct method {
    const char* name;
    unsigned long request;
    const char* ioctl_name;
  };
  std::vector<method> methods;
  if (caps.write_zeroes_max_bytes > 0)
    methods.push_back({"write_zeroes", BLKZEROOUT, "BLKZEROOUT"});
  else if (caps.supported && caps.zeroes_data)
    methods.push_back({"discard", BLKDISCARD, "BLKDISCARD"});

  for (const auto& m : methods) {
    bool unsupported = false;
    for (uint64_t pos = 0; pos < aligned;) {
      if (opts.cancelled && opts.cancelled())
        return make_error(errc::aborted, op + " " + device + ": cancelled after " +
                                           std::to_string(pos) + " of " + std::to_string(bytes) +
                                           " bytes");
      uint64_t len = std::min(ioctl_piece_bytes, aligned - pos);
      uint64_t range[2] = {pos, len};
      if (::ioctl(fd.get(), m.request, range) != 0) {
        int err = errno;
        if (pos == 0 && (err == EOPNOTSUPP || err == ENOTTY)) {
          unsupported = true; // the caps promised more than the device does
          break;
        }
        return make_error(errc::io_error, op + ": ioctl " + m.ioctl_name + " " + device +
                                            " at offset " + std::to_string(pos) + ": " +
                                            errno_text(err));
      }
      pos += len;
      if (opts.progress)
        opts.progress(pos, bytes);
    }
    if (unsupported)
      continue;
    if (aligned < bytes) // a tail shorter than a sector: write it
      if (auto tail = zero_fill(aligned, bytes - aligned, false); !tail)
        return std::move(tail.error());
    if (::fdatasync(fd.get()) != 0) {
      int err = errno;
      return make_error(errc::io_error, op + ": fdatasync " + device + ": " + errno_text(err));
    }
    return std::string{m.name};
  }
  return zero_fill(0, bytes, false);
}

} // namespace

caf::expected<mover_result> copy_range(const std::string& source, const std::string& destination,
                                       uint64_t bytes, const mover_options& opts) {
  return guarded("copy_range " + source + " -> " + destination,
                 [&]() -> caf::expected<mover_result> {
                   return copy_range_impl(source, destination, bytes, opts);
                 });
}

caf::expected<mover_result> zero_range(const std::string& destination, uint64_t offset,
                                       uint64_t bytes, const mover_options& opts) {
  return guarded("zero_range " + destination, [&]() -> caf::expected<mover_result> {
    return zero_range_impl(destination, offset, bytes, opts, true);
  });
}

discard_caps read_discard_caps(const std::filesystem::path& sysfs_block_dir) {
  try {
    return read_discard_caps_impl(sysfs_block_dir);
  } catch (...) {
    return {}; // only bad_alloc can get here: report "no capabilities"
  }
}

caf::expected<std::string> secure_wipe(const std::string& device, uint64_t bytes,
                                       const std::filesystem::path& sysfs_block_dir,
                                       const mover_options& opts) {
  return guarded("secure_wipe " + device, [&]() -> caf::expected<std::string> {
    return secure_wipe_impl(device, bytes, sysfs_block_dir, opts);
  });
}

std::string io_uring_unavailable_reason() {
  try {
    ring r;
    return r.init(1);
  } catch (...) {
    return "out of memory";
  }
}

} // namespace olocal

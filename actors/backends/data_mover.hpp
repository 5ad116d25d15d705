#pragma once

// The data mover: copies a range of one block device (or file) into another
// (volume clone and snapshot restore) and wipes released storage.
//
// Every function here blocks for as long as the copy takes: call them from a
// detached backend actor, never from a scheduler thread. No exception escapes;
// every error names the path and the operation that failed.
//
// Two engines move the bytes:
//  - io_uring: `queue_depth` aligned buffers, each cycling read -> write ->
//    read of the next block, so that up to `queue_depth` operations are in
//    flight at any time;
//  - pread: one buffer, pread then pwrite, block by block.
// `engine::automatic` uses io_uring when the kernel (and the seccomp profile)
// allows it and falls back to pread otherwise; the result says which engine
// ran and why io_uring was not used.

#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace olocal {

struct mover_options {
  /// Bytes per read or write; rounded up to a multiple of 4096.
  size_t block_bytes = 1 << 20;
  /// Buffers (and so operations) in flight on the io_uring engine.
  unsigned queue_depth = 4;
  /// Bypass the page cache (O_DIRECT) where the file system allows it.
  bool direct = true;
  enum class engine { automatic, io_uring, pread } engine = engine::automatic;
  /// Polled between blocks; returning true stops the copy with errc::aborted.
  std::function<bool()> cancelled;
  /// Called after each completed block with the bytes done so far.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

/// The engine type by name (inside mover_options the member shadows it; only
/// `mover_options::engine::pread`-style qualified names reach it there).
using mover_engine = decltype(mover_options::engine);

struct mover_result {
  uint64_t bytes = 0;          ///< bytes copied or zeroed
  std::string engine;          ///< "io_uring" or "pread": which path actually ran
  std::string fallback_reason; ///< why io_uring was not used, "" if it was
  bool direct = false;         ///< whether O_DIRECT was in effect on every file
  std::chrono::nanoseconds elapsed{};
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mover_result& x) {
  return f(caf::meta::type_name("mover_result"), x.bytes, x.engine, x.fallback_reason, x.direct,
           x.elapsed);
}

/// Copies the first `bytes` of `source` into `destination` (block devices or
/// regular files). The destination must already exist and hold at least
/// `bytes`; it is never truncated or extended, and it is fdatasync'ed at the
/// end. A destination block device is claimed exclusively (O_EXCL) for the
/// copy, so one that is mounted or otherwise held is refused.
///
/// Errors: invalid_argument (zero block size or queue depth, not a regular
/// file or block device), not_found (a path does not exist), out_of_range
/// (source or destination smaller than `bytes`; both sizes named),
/// device_busy (destination block device in use), unimplemented (engine
/// io_uring forced but unavailable), io_error (read, write or sync failed;
/// offset and strerror named), aborted (cancelled; bytes done named).
caf::expected<mover_result> copy_range(const std::string& source, const std::string& destination,
                                       uint64_t bytes, const mover_options& opts);

/// Writes zeroes over [offset, offset + bytes) of `destination`, which must
/// hold the whole range. Same engines, errors and sync as copy_range.
caf::expected<mover_result> zero_range(const std::string& destination, uint64_t offset,
                                       uint64_t bytes, const mover_options& opts);

/// What a block device's queue says about discarding and zeroing.
struct discard_caps {
  bool supported = false;   ///< queue/discard_max_bytes > 0
  bool zeroes_data = false; ///< queue/discard_zeroes_data == 1 (always 0 since Linux 4.12)
  uint64_t write_zeroes_max_bytes = 0; ///< queue/write_zeroes_max_bytes
};

/// Reads the discard capabilities of the block device whose sysfs directory
/// is `sysfs_block_dir` (/sys/class/block/<name>). For a partition (which
/// has no queue/ of its own) the parent disk's queue is read. Missing or
/// unreadable files count as "not supported". Pure file reading.
discard_caps read_discard_caps(const std::filesystem::path& sysfs_block_dir);

/// Overwrites the first `bytes` of `device` so that they read back as zeroes,
/// with the cheapest method the device guarantees: BLKZEROOUT when it offers
/// write-zeroes ("write_zeroes"), BLKDISCARD when discarded blocks read back
/// as zeroes ("discard"), otherwise writing zeroes through the mover
/// ("zero_fill:io_uring" or "zero_fill:pread"). A regular file is always
/// zero-filled. Returns the method that ran. The device is claimed
/// exclusively for the wipe (device_busy when it is mounted or held).
/// Blocking.
caf::expected<std::string> secure_wipe(const std::string& device, uint64_t bytes,
                                       const std::filesystem::path& sysfs_block_dir,
                                       const mover_options& opts);

/// "" when io_uring can be used here, else why not (for start-up reports and
/// tests): e.g. "io_uring_queue_init: Function not implemented".
std::string io_uring_unavailable_reason();

} // namespace olocal

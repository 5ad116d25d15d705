#pragma once

// Standalone mode's demo pool: a volume group on a loop device over a sparse
// file, made on first start and found again on the next (the file, its loop
// device and the VG are reused, never recreated over data).

#include <caf/expected.hpp>

#include <cstdint>
#include <string>

namespace olocal {

struct file_pool {
  std::string file;                     ///< backing file ("/var/lib/open-local/pool.img")
  uint64_t size_bytes = 4ull << 30;     ///< size of a new file (an existing one keeps its size)
  std::string vg = "open-local-pool-0"; ///< open-local's default pool naming
};

/// Makes sure `pool.vg` exists on a loop device over `pool.file`: creates the
/// sparse file when missing, attaches it (or finds its loop device), creates
/// the VG when missing. Answers the loop device. Blocking (losetup, lvm).
/// Errors name the step: invalid_argument (relative path), io_error (file),
/// command_failed (losetup), and create_volume_group's refusals.
caf::expected<std::string> ensure_file_pool(const file_pool& pool);

} // namespace olocal

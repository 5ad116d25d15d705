#pragma once

// IO throttling of a volume's device for one pod: the decisions (which
// limits, which cgroups, which lines) as functions, table-tested on a fake
// cgroup tree in a temporary directory. open-local wrote v1 blkio files once
// at publish, from a fixed kubelet root and a guessed QoS path, with
// maj = rdev/256; these work for any kubelet root, both cgroup drivers, all
// QoS classes, v1 and v2, and any minor.

#include "actors/core/messages.hpp"
#include "actors/node/io_limit_context.hpp"

#include <caf/expected.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace olocal::io_limits {

/// "MAJ:MIN" of a device number (major()/minor(): right for minors >= 256).
std::string device_number(dev_t dev);

/// The device number of a block device node; invalid_argument when `path`
/// is not a block device, not_found when it is missing.
caf::expected<dev_t> block_device_number(const std::string& path);

/// cgroup v1 (blkio throttle files) or v2 (io.max).
enum class cgroup_mode { v1, v2 };

std::string_view to_string(cgroup_mode mode);

/// v2 when <root>/cgroup.controllers exists, else v1.
cgroup_mode detect_mode(const std::filesystem::path& root);

/// The hierarchy the limits live in: root for v2, root/blkio for v1.
std::filesystem::path hierarchy_of(const std::filesystem::path& root, cgroup_mode mode);

/// The pod's cgroup(s) below a hierarchy root, for the cgroupfs driver
/// (kubepods[/burstable|/besteffort]/pod<uid>) and the systemd driver
/// (kubepods.slice[/kubepods-<qos>.slice]/kubepods[-<qos>]-pod<uid_>.slice).
/// The usual places are looked at first; otherwise a search at most 4
/// levels deep that never enters another pod's cgroup (kubelet's
/// --cgroup-root may put kubepods anywhere). Empty when there is none.
std::vector<std::filesystem::path> pod_cgroups(const std::filesystem::path& root,
                                               std::string_view uid);

/// The cgroup an explicit name (as /proc/<pid>/cgroup shows it, leading "/"
/// optional) means below a hierarchy root; invalid_argument for "..".
caf::expected<std::filesystem::path> named_cgroup(const std::filesystem::path& root,
                                                  std::string_view name);

/// Which cgroups carry the limit: v2 the cgroup itself (io.max is
/// hierarchical); v1 the cgroup and every cgroup below it (blkio throttling
/// is not hierarchical: containers' own cgroups must carry it too).
std::vector<std::filesystem::path> cgroups_to_write(const std::filesystem::path& cgroup,
                                                    cgroup_mode mode);

// -- v2: io.max ----------------------------------------------------------------

/// "MAJ:MIN rbps=N wbps=N riops=N wiops=N", "max" for unlimited (an empty
/// limit renders the removal line).
std::string io_max_line(std::string_view device, const io_limit& limit);

/// An io.max file as device -> limit. Later lines win and an all-"max" line
/// removes the device (the kernel keeps one line per device and drops
/// unlimited ones; a plain file written line by line reads the same).
std::map<std::string, io_limit> parse_io_max(std::string_view text);

// -- v1: blkio.throttle.*_device ---------------------------------------------------

/// The four v1 files, with the limit each one holds.
struct v1_file {
  std::string_view name; ///< "blkio.throttle.read_bps_device", ...
  uint64_t io_limit::*field;
};

const std::vector<v1_file>& v1_files();

/// "MAJ:MIN N" (0 removes the rule).
std::string v1_line(std::string_view device, uint64_t value);

/// One v1 throttle file as device -> value (later lines win, 0 removes).
std::map<std::string, uint64_t> parse_v1(std::string_view text);

// -- the IO limits file --------------------------------------------------------------

/// The limits in force, as the node keeps them in <state-dir>/io-limits.json
/// so that they stay true across its own restarts: {"version":1,"limits":[
/// {"volume","target","device","pod","cgroup","readBps","writeBps",
/// "readIops","writeIops"}]}.
std::string limits_to_json(const std::vector<set_io_limit>& limits);

/// Parses limits_to_json's output. parse_error naming `origin` and what is
/// wrong (not JSON, another version, a missing or mistyped field, an entry
/// without a limit, one target twice). Pure.
caf::expected<std::vector<set_io_limit>> limits_from_json(std::string_view text,
                                                          std::string_view origin);

// -- applying (real files) -----------------------------------------------------------

/// What is in force for `device` in one cgroup (files read; a missing rule
/// reads as unlimited). io_error when the files cannot be read.
caf::expected<io_limit> read_limit(const std::filesystem::path& cgroup, cgroup_mode mode,
                                   std::string_view device);

/// Makes `limit` the one in force for `device` in one cgroup, writing only
/// what differs. Answers true when something was written; io_error naming
/// the file (a missing io.max: the io controller is not enabled there).
caf::expected<bool> write_limit(const std::filesystem::path& cgroup, cgroup_mode mode,
                                std::string_view device, const io_limit& limit);

} // namespace olocal::io_limits

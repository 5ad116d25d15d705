#include "actors/node/block_devices.hpp"

#include "actors/backends/signatures.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/json.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

namespace olocal {

namespace fs = std::filesystem;

namespace {

std::string read_first_line(const fs::path& file) {
  std::ifstream in{file};
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ' || line.back() == '\r'))
    line.pop_back();
  return line;
}

uint64_t read_u64(const fs::path& file) {
  auto text = read_first_line(file);
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator i{dir, ec}, end; !ec && i != end; i.increment(ec))
    names.push_back(i->path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string kind_of(const std::string& name) {
  auto starts = [&](std::string_view prefix) { return name.rfind(prefix, 0) == 0; };
  if (starts("nvme"))
    return "nvme";
  if (starts("loop"))
    return "loop";
  if (starts("dm-"))
    return "dm";
  if (starts("md"))
    return "md";
  if (starts("ram") || starts("zram") || starts("nbd"))
    return "virtual";
  return "disk";
}

void read_common(const fs::path& dir, block_device& dev) {
  auto devnum = read_first_line(dir / "dev");
  if (auto colon = devnum.find(':'); colon != std::string::npos) {
    std::from_chars(devnum.data(), devnum.data() + colon, dev.major);
    std::from_chars(devnum.data() + colon + 1, devnum.data() + devnum.size(), dev.minor);
  }
  dev.size_bytes = read_u64(dir / "size") * 512;
  dev.read_only = read_u64(dir / "ro") != 0;
  dev.holders = list_dir(dir / "holders");
}

} // namespace

std::vector<block_device> discover_block_devices(const fs::path& sysfs_root) {
  std::vector<block_device> result;
  auto block_dir = sysfs_root / "block";
  for (auto& name : list_dir(block_dir)) {
    auto dir = block_dir / name;
    block_device disk;
    disk.name = name;
    disk.path = "/dev/" + name;
    disk.kind = kind_of(name);
    read_common(dir, disk);
    disk.rotational = read_u64(dir / "queue" / "rotational") != 0;
    disk.removable = read_u64(dir / "removable") != 0;
    if (disk.kind == "dm")
      disk.dm_name = read_first_line(dir / "dm" / "name");
    std::vector<block_device> parts;
    for (auto& child : list_dir(dir)) {
      std::error_code ec;
      if (!fs::exists(dir / child / "partition", ec))
        continue;
      block_device part;
      part.name = child;
      part.path = "/dev/" + child;
      part.parent = name;
      part.kind = "partition";
      read_common(dir / child, part);
      part.rotational = disk.rotational; // partitions inherit the medium
      part.removable = disk.removable;
      disk.partitions.push_back(child);
      parts.push_back(std::move(part));
    }
    result.push_back(std::move(disk));
    for (auto& p : parts)
      result.push_back(std::move(p));
  }
  std::sort(result.begin(), result.end(),
            [](const block_device& a, const block_device& b) { return a.name < b.name; });
  return result;
}

void annotate_usage(std::vector<block_device>& devices, const fs::path& mountinfo,
                    const fs::path& dev_root) {
  // mountinfo: "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw"
  std::map<std::pair<uint32_t, uint32_t>, std::vector<std::string>> mounts;
  std::ifstream in{mountinfo};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields{line};
    std::string id, parent, devnum, root, point;
    if (!(fields >> id >> parent >> devnum >> root >> point))
      continue;
    auto colon = devnum.find(':');
    if (colon == std::string::npos)
      continue;
    uint32_t major = 0, minor = 0;
    std::from_chars(devnum.data(), devnum.data() + colon, major);
    std::from_chars(devnum.data() + colon + 1, devnum.data() + devnum.size(), minor);
    mounts[{major, minor}].push_back(point);
  }
  for (auto& dev : devices) {
    if (auto i = mounts.find({dev.major, dev.minor}); i != mounts.end())
      dev.mountpoints = i->second;
    auto sigs = probe_signatures((dev_root / dev.name).string());
    if (sigs) {
      dev.signatures = std::move(*sigs);
      dev.probe_error.clear();
    } else {
      dev.probe_error = render(sigs.error());
    }
  }
}

std::string to_json(const block_device& dev) {
  auto list = [](const std::vector<std::string>& xs) {
    std::string out = "[";
    for (size_t i = 0; i < xs.size(); ++i) {
      if (i > 0)
        out += ',';
      out += json_quote(xs[i]);
    }
    return out + "]";
  };
  std::string out = "{\"name\":" + json_quote(dev.name) + ",\"path\":" + json_quote(dev.path) +
                    ",\"kind\":" + json_quote(dev.kind) + ",\"parent\":" + json_quote(dev.parent) +
                    ",\"major\":" + std::to_string(dev.major) +
                    ",\"minor\":" + std::to_string(dev.minor) +
                    ",\"sizeBytes\":" + std::to_string(dev.size_bytes) +
                    ",\"mediaType\":" + json_quote(dev.media_type()) +
                    ",\"readOnly\":" + (dev.read_only ? "true" : "false") +
                    ",\"removable\":" + (dev.removable ? "true" : "false");
  if (!dev.dm_name.empty())
    out += ",\"dmName\":" + json_quote(dev.dm_name);
  out += ",\"holders\":" + list(dev.holders) + ",\"partitions\":" + list(dev.partitions) +
         ",\"signatures\":" + list(dev.signatures) + ",\"mountpoints\":" + list(dev.mountpoints);
  if (!dev.probe_error.empty())
    out += ",\"probeError\":" + json_quote(dev.probe_error);
  auto reason = dev.in_use_reason();
  out += ",\"free\":" + std::string{reason.empty() ? "true" : "false"};
  if (!reason.empty())
    out += ",\"inUse\":" + json_quote(reason);
  out += "}";
  return out;
}

} // namespace olocal

#include "tests/support/fake_lvm.hpp"

#include "actors/backends/lvm.hpp"
#include "actors/core/errc.hpp"
#include "actors/core/json.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace olocal::test {

namespace {

uint64_t parse_bytes(const std::string& text) {
  uint64_t value = 0;
  auto end = text.data() + text.size() - (text.ends_with("b") ? 1 : 0);
  std::from_chars(text.data(), end, value);
  return value;
}

std::string join_tags(const std::vector<std::string>& tags) {
  std::string out;
  for (auto& t : tags)
    out += (out.empty() ? "" : ",") + t;
  return out;
}

std::string row(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i)
    out += (i ? ", " : "") + json_quote(fields[i].first) + ":" + json_quote(fields[i].second);
  return out + "}";
}

std::string report(const std::string& section, const std::vector<std::string>& rows) {
  std::string out = "  {\n      \"report\": [\n          {\n              \"" + section + "\": [";
  for (size_t i = 0; i < rows.size(); ++i)
    out += (i ? ",\n                  " : "\n                  ") + rows[i];
  return out + "\n              ]\n          }\n      ]\n  }\n";
}

struct failure {
  int exit_code;
  std::string text;
};

} // namespace

uint64_t fake_lvm_state::size() const {
  uint64_t total = 0;
  for (auto& pv : pvs)
    total += pv.second / extent * extent;
  return total;
}

uint64_t fake_lvm_state::used() const {
  uint64_t total = 0;
  for (auto& [name, lv] : lvs)
    if (lv.segtype != "thin")
      total += lv.size_bytes;
  return total;
}

size_t fake_lvm_state::changes() const {
  return static_cast<size_t>(std::count_if(commands.begin(), commands.end(), [](auto& argv) {
    return argv[0] != "lvs" && argv[0] != "vgs" && argv[0] != "pvs" && argv[0] != "lvm";
  }));
}

std::vector<std::string> fake_lvm_state::vg_rows() const {
  if (!vg_exists)
    return {};
  return {row({{"vg_name", vg},
               {"vg_uuid", "fakeVG-uuid"},
               {"vg_size", std::to_string(size())},
               {"vg_free", std::to_string(free())},
               {"vg_extent_size", std::to_string(extent)},
               {"vg_extent_count", std::to_string(size() / extent)},
               {"vg_free_count", std::to_string(free() / extent)},
               {"pv_count", std::to_string(pvs.size())},
               {"lv_count", std::to_string(lvs.size())},
               {"vg_tags", ""}})};
}

std::vector<std::string> fake_lvm_state::pv_rows() const {
  std::vector<std::string> rows;
  if (!vg_exists)
    return rows;
  // Allocation fills PVs in order.
  auto left = used();
  for (auto& [name, bytes] : pvs) {
    auto usable = bytes / extent * extent;
    auto taken = std::min(left, usable);
    left -= taken;
    rows.push_back(row({{"pv_name", name},
                        {"vg_name", vg},
                        {"pv_uuid", "fakePV-" + name.substr(name.rfind('/') + 1)},
                        {"pv_size", std::to_string(usable)},
                        {"pv_free", std::to_string(usable - taken)},
                        {"pv_tags", ""}}));
  }
  return rows;
}

std::vector<std::string> fake_lvm_state::lv_rows(bool with_segments) const {
  std::vector<std::string> rows;
  for (auto& [name, lv] : lvs) {
    bool origin_of_snapshot = std::any_of(lvs.begin(), lvs.end(), [&](auto& other) {
      return other.second.origin == name && other.second.segtype != "thin";
    });
    std::string attr = "-wi-a-----";
    if (lv.segtype == "thin-pool")
      attr = "twi-a-tz--";
    else if (lv.segtype == "thin")
      attr = lv.read_only ? "Vri-a-tz--" : "Vwi-a-tz--";
    else if (!lv.origin.empty())
      attr = "sri-a-s---";
    else if (origin_of_snapshot)
      attr = "owi-a-s---";
    bool cow = !lv.origin.empty() && lv.segtype != "thin";
    bool percent = lv.segtype == "thin-pool" || lv.segtype == "thin" || cow;
    char fill[32];
    std::snprintf(fill, sizeof(fill), "%.2f",
                  lv.size_bytes ? 100.0 * static_cast<double>(lv.used_bytes) /
                                    static_cast<double>(lv.size_bytes)
                                : 0.0);
    std::vector<std::pair<std::string, std::string>> fields = {
      {"lv_name", name},
      {"vg_name", vg},
      {"lv_uuid", "fakeLV-" + name},
      {"lv_size", std::to_string(lv.size_bytes)},
      {"lv_attr", attr},
      {"pool_lv", lv.pool},
      {"origin", lv.origin},
      {"data_percent", percent ? fill : ""},
      {"metadata_percent", lv.segtype == "thin-pool" ? "1.00" : ""},
      {"snap_percent", cow ? fill : ""},
      {"lv_tags", join_tags(lv.tags)},
      {"lv_kernel_major", "254"},
      {"lv_kernel_minor", std::to_string(lv.minor)}};
    if (with_segments) {
      fields.emplace_back("segtype", lv.segtype);
      fields.emplace_back("stripes", std::to_string(lv.stripes));
    }
    rows.push_back(row(fields));
  }
  return rows;
}

std::string fake_lvm_state::fullreport() const {
  // lvm2 prints one element per VG; no VG, no element.
  if (!vg_exists)
    return "  {\n      \"report\": [\n      ]\n  }\n";
  std::vector<std::string> segs;
  for (auto& [name, lv] : lvs)
    segs.push_back(row({{"lv_uuid", "fakeLV-" + name},
                        {"segtype", lv.segtype},
                        {"stripes", std::to_string(lv.stripes)}}));
  auto list = [](const std::string& key, const std::vector<std::string>& rows) {
    std::string out = "\"" + key + "\": [";
    for (size_t i = 0; i < rows.size(); ++i)
      out += (i ? ",\n  " : "\n  ") + rows[i];
    return out + "\n]";
  };
  return "{\"report\": [{" + list("vg", vg_rows()) + ",\n" + list("pv", pv_rows()) + ",\n" +
         list("lv", lv_rows(false)) + ",\n" + list("pvseg", {}) + ",\n" + list("seg", segs) +
         "}]}\n";
}

caf::expected<std::string> fake_lvm_state::execute(const std::vector<std::string>& argv) {
  commands.push_back(argv);
  auto fail = [&](int code, std::string text) -> caf::expected<std::string> {
    return lvm::classify_failure(argv, code, text);
  };
  if (!failures.empty() &&
      (failures.front().program.empty() || failures.front().program == argv[0])) {
    auto f = failures.front();
    failures.pop_front();
    return fail(f.exit_code, f.stderr_text);
  }
  auto& program = argv[0];
  auto vg_missing = [&] {
    return fail(5, "  Volume group \"" + vg + "\" not found\n  Cannot process volume group " + vg +
                     "\n");
  };
  if (program == "lvm" && argv.size() > 1 && argv[1] == "fullreport") {
    if (!vg_exists || argv.back() != vg)
      return vg_missing();
    return fullreport();
  }
  if (program == "vgs") {
    if (!vg_exists)
      return vg_missing();
    return report("vg", vg_rows());
  }
  if (program == "pvs")
    return report("pv", pv_rows());
  if (program == "lvs") {
    if (!vg_exists)
      return vg_missing();
    return report("lv", lv_rows(true));
  }
  // Changes: the last argument names "vg" or "vg/lv".
  auto target = argv.back();
  auto slash = target.find('/');
  auto target_vg = target.substr(0, slash);
  auto target_lv = slash == std::string::npos ? std::string{} : target.substr(slash + 1);
  if (!vg_exists || target_vg != vg)
    return vg_missing();
  auto option = [&](const std::string& name) -> std::string {
    for (size_t i = 0; i + 1 < argv.size(); ++i)
      if (argv[i] == name)
        return argv[i + 1];
    return {};
  };
  auto all = [&](const std::string& name) {
    std::vector<std::string> values;
    for (size_t i = 0; i + 1 < argv.size(); ++i)
      if (argv[i] == name)
        values.push_back(argv[i + 1]);
    return values;
  };
  auto missing_lv = [&](const std::string& name) {
    return fail(5, "  Failed to find logical volume \"" + vg + "/" + name + "\"\n");
  };
  if (program == "lvcreate") {
    auto name = option("-n");
    if (lvs.count(name))
      return fail(5, "  Logical Volume \"" + name + "\" already exists in volume group \"" + vg +
                       "\"\n");
    fake_lv lv;
    lv.tags = all("--addtag");
    lv.minor = next_minor++;
    auto type = option("--type");
    bool snapshot = std::find(argv.begin(), argv.end(), "-s") != argv.end();
    if (snapshot) {
      lv.origin = target_lv;
      auto origin = lvs.find(target_lv);
      if (origin == lvs.end())
        return missing_lv(target_lv);
      if (option("-L").empty()) { // thin snapshot
        if (origin->second.segtype != "thin")
          return fail(3, "  Please specify either size or extents with snapshots.\n");
        lv.segtype = "thin";
        lv.pool = origin->second.pool;
        lv.size_bytes = origin->second.size_bytes;
      } else {
        lv.size_bytes = parse_bytes(option("-L"));
        lv.read_only = true;
      }
    } else if (type == "thin") {
      lv.segtype = "thin";
      lv.pool = option("--thinpool");
      if (!lvs.count(lv.pool))
        return missing_lv(lv.pool);
      lv.size_bytes = parse_bytes(option("-V"));
    } else {
      lv.segtype = type.empty() ? "linear" : type;
      lv.size_bytes = parse_bytes(option("-L"));
      if (type == "striped")
        lv.stripes = static_cast<uint32_t>(std::stoul(option("-i")));
    }
    lv.size_bytes = (lv.size_bytes + extent - 1) / extent * extent;
    if (lv.segtype != "thin" && lv.size_bytes > free())
      return fail(5, "  Volume group \"" + vg + "\" has insufficient free space (" +
                       std::to_string(free() / extent) +
                       " extents): " + std::to_string(lv.size_bytes / extent) + " required.\n");
    lvs.emplace(name, lv);
    return "  Logical volume \"" + name + "\" created.\n";
  }
  auto lv = lvs.find(target_lv);
  if (lv == lvs.end())
    return missing_lv(target_lv);
  if (program == "lvremove") {
    lvs.erase(lv);
    return "  Logical volume \"" + target_lv + "\" successfully removed.\n";
  }
  if (program == "lvextend") {
    auto wanted = (parse_bytes(option("-L")) + extent - 1) / extent * extent;
    if (wanted <= lv->second.size_bytes)
      return fail(5, "  New size given (" + std::to_string(wanted / extent) +
                       " extents) not larger than existing size (" +
                       std::to_string(lv->second.size_bytes / extent) + " extents)\n");
    if (lv->second.segtype != "thin" && wanted - lv->second.size_bytes > free())
      return fail(
        5,
        "  Insufficient free space: " + std::to_string((wanted - lv->second.size_bytes) / extent) +
          " extents needed, but only " + std::to_string(free() / extent) + " available\n");
    lv->second.size_bytes = wanted;
    return "  Logical volume " + vg + "/" + target_lv + " successfully resized.\n";
  }
  if (program == "lvchange") {
    for (auto& tag : all("--addtag"))
      if (std::find(lv->second.tags.begin(), lv->second.tags.end(), tag) == lv->second.tags.end())
        lv->second.tags.push_back(tag);
    for (auto& tag : all("--deltag"))
      lv->second.tags.erase(std::remove(lv->second.tags.begin(), lv->second.tags.end(), tag),
                            lv->second.tags.end());
    return "  Logical volume " + vg + "/" + target_lv + " changed.\n";
  }
  return fail(3, "  fake lvm: unsupported command " + program + "\n");
}

fake_lvm_actor spawn_fake_lvm(caf::actor_system& sys, std::shared_ptr<fake_lvm_state> state) {
  return sys.spawn([state](fake_lvm_actor::pointer self) -> fake_lvm_actor::behavior_type {
    return {
      [state](wipe_command& cmd) -> caf::result<std::string> {
        state->wipes.push_back(cmd);
        if (state->fail_wipes)
          return make_error(errc::io_error, "cannot write " + cmd.device + ": Input/output error");
        // Zero what the volume "held" in the fake: its written bytes.
        for (auto& [name, lv] : state->lvs)
          if ("/dev/" + state->vg + "/" + name == cmd.device)
            lv.used_bytes = 0;
        return std::string{"zero_fill:fake"};
      },
      [state](fill_query& q) {
        ++state->fill_queries;
        std::vector<fill_entry> result;
        for (auto* names : {&q.pools, &q.snapshots})
          for (auto& name : *names) {
            fill_entry e{name};
            auto lv = state->lvs.find(name);
            if (lv == state->lvs.end() || lv->second.size_bytes == 0) {
              e.error = "not_found: no device-mapper device for " + name;
            } else {
              e.data_percent = 100.0 * static_cast<double>(lv->second.used_bytes) /
                               static_cast<double>(lv->second.size_bytes);
              if (names == &q.pools)
                e.metadata_percent = 1;
            }
            result.push_back(std::move(e));
          }
        return result;
      },
      [state](copy_command& cmd) -> caf::result<std::string> {
        state->copies.push_back(cmd);
        if (state->fail_copies)
          return make_error(errc::io_error, "cannot read " + cmd.source + ": Input/output error");
        return std::string{"fake"};
      },
      [state](release_atom) {
        if (state->held.empty())
          return;
        auto [cmd, rp] = std::move(state->held.front());
        state->held.pop_front();
        auto result = state->execute(cmd.argv);
        if (result)
          rp.deliver(std::move(*result));
        else
          rp.deliver(result.error());
      },
      [self, state](lvm_command& cmd) -> caf::result<std::string> {
        if (state->hold) {
          auto rp = self->make_response_promise<std::string>();
          state->held.emplace_back(cmd, rp);
          return rp;
        }
        auto result = state->execute(cmd.argv);
        if (!result)
          return std::move(result.error());
        return std::move(*result);
      },
    };
  });
}

} // namespace olocal::test

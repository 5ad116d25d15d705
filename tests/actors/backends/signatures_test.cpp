#include "actors/backends/signatures.hpp"

#include "actors/backends/process.hpp"
#include "actors/core/errc.hpp"
#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace olocal;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using bytes = std::vector<unsigned char>;

bytes blank() {
  return bytes(signature_probe_bytes, 0);
}

void put(bytes& head, size_t offset, std::string_view text) {
  std::memcpy(head.data() + offset, text.data(), text.size());
}

void put_le32(bytes& head, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    head[offset + i] = static_cast<unsigned char>(v >> (8 * i));
}

using sigs = std::vector<std::string>;

} // namespace

TEST(signatures, empty_and_zeroed_devices_have_none) {
  EXPECT_EQ(detect_signatures(blank()), sigs{});
  EXPECT_EQ(detect_signatures(bytes{}), sigs{});
  EXPECT_EQ(detect_signatures(bytes(100, 0xff)), sigs{});
}

TEST(signatures, synthetic_headers) {
  struct row {
    const char* name;
    std::function<void(bytes&)> make;
    sigs expected;
  };
  std::vector<row> rows = {
    {"lvm label in sector 1",
     [](bytes& h) {
       put(h, 512, "LABELONE");
       put(h, 512 + 24, "LVM2 001");
     },
     {"LVM2_member"}},
    {"LABELONE without the LVM2 type is not a PV", [](bytes& h) { put(h, 0, "LABELONE"); }, {}},
    {"ext4 (extents)",
     [](bytes& h) {
       put(h, 1024 + 56, "\x53\xEF");
       put_le32(h, 1024 + 0x60, 0x40);
     },
     {"ext4"}},
    {"ext3 (journal)",
     [](bytes& h) {
       put(h, 1024 + 56, "\x53\xEF");
       put_le32(h, 1024 + 0x5C, 0x4);
     },
     {"ext3"}},
    {"ext2", [](bytes& h) { put(h, 1024 + 56, "\x53\xEF"); }, {"ext2"}},
    {"xfs", [](bytes& h) { put(h, 0, "XFSB"); }, {"xfs"}},
    {"btrfs", [](bytes& h) { put(h, 65536 + 64, "_BHRfS_M"); }, {"btrfs"}},
    {"swap 4k", [](bytes& h) { put(h, 4096 - 10, "SWAPSPACE2"); }, {"swap"}},
    {"swap 64k", [](bytes& h) { put(h, 65536 - 10, "SWAPSPACE2"); }, {"swap"}},
    {"luks", [](bytes& h) { put(h, 0, "LUKS\xba\xbe"); }, {"crypto_LUKS"}},
    {"md 1.2", [](bytes& h) { put_le32(h, 4096, 0xa92b4efc); }, {"linux_raid_member"}},
    {"iso9660", [](bytes& h) { put(h, 32769, "CD001"); }, {"iso9660"}},
    {"gpt with protective mbr",
     [](bytes& h) {
       put(h, 510, "\x55\xAA");
       h[446 + 4] = 0xEE;
       put(h, 512, "EFI PART");
     },
     {"gpt"}},
    {"dos partition table",
     [](bytes& h) {
       put(h, 510, "\x55\xAA");
       h[446 + 16 + 4] = 0x83;
     },
     {"dos"}},
    {"boot signature without partitions is not a table",
     [](bytes& h) { put(h, 510, "\x55\xAA"); },
     {}},
    {"fat32",
     [](bytes& h) {
       put(h, 510, "\x55\xAA");
       put(h, 82, "FAT32   ");
       h[446 + 4] = 0x0c; // boot code bytes that look like an entry
     },
     {"vfat"}},
    {"stale xfs under a new PV: both reported",
     [](bytes& h) {
       put(h, 0, "XFSB");
       put(h, 512, "LABELONE");
       put(h, 512 + 24, "LVM2 001");
     },
     {"LVM2_member", "xfs"}},
  };
  for (auto& r : rows) {
    SCOPED_TRACE(r.name);
    auto head = blank();
    r.make(head);
    EXPECT_EQ(detect_signatures(head), r.expected);
  }
}

TEST(signatures, short_heads_never_read_past_the_end) {
  auto head = blank();
  put(head, 65536 + 64, "_BHRfS_M");
  for (size_t size : {0u, 1u, 511u, 512u, 1100u, 4095u, 65536u + 70u})
    EXPECT_EQ(detect_signatures(std::span{head.data(), size}), sigs{}) << size;
  EXPECT_EQ(detect_signatures(std::span{head.data(), 65536u + 72u}), sigs{"btrfs"});
}

namespace {

struct real_tools : ::testing::Test {
  test::temp_dir tmp{"olocal-sig"};
  const fs::path& dir = tmp.path();

  std::string image(const std::string& name, uint64_t bytes) {
    auto path = (dir / name).string();
    std::ofstream{path};
    fs::resize_file(path, bytes);
    return path;
  }

  void run(std::vector<std::string> argv, std::string input = {}) {
    auto r = run_command({argv, 60s, {}, std::move(input)});
    ASSERT_TRUE(r) << render(r.error());
    ASSERT_EQ(r->exit_code, 0) << render_argv(argv) << "\n" << r->err;
  }
};

} // namespace

// The real formatting tools (installed by the dependency installer) write
// what a user's disks hold; our probe must recognise each.
TEST_F(real_tools, recognises_what_mkfs_and_partitioners_write) {
  auto ext4 = image("ext4.img", 64 << 20);
  run({"mkfs.ext4", "-q", "-F", ext4});
  EXPECT_EQ(probe_signatures(ext4).value(), sigs{"ext4"});

  auto ext3 = image("ext3.img", 64 << 20);
  run({"mkfs.ext3", "-q", "-F", ext3});
  EXPECT_EQ(probe_signatures(ext3).value(), sigs{"ext3"});

  auto xfs = image("xfs.img", 320 << 20);
  run({"mkfs.xfs", "-q", "-f", xfs});
  EXPECT_EQ(probe_signatures(xfs).value(), sigs{"xfs"});

  auto swap = image("swap.img", 16 << 20);
  run({"mkswap", swap});
  EXPECT_EQ(probe_signatures(swap).value(), sigs{"swap"});

  auto gpt = image("gpt.img", 16 << 20);
  run({"sfdisk", "--quiet", "--label", "gpt", gpt}, "size=4MiB\n");
  EXPECT_EQ(probe_signatures(gpt).value(), sigs{"gpt"});

  auto dos = image("dos.img", 16 << 20);
  run({"sfdisk", "--quiet", "--label", "dos", dos}, "size=4MiB\n");
  EXPECT_EQ(probe_signatures(dos).value(), sigs{"dos"});

  auto empty = image("empty.img", 16 << 20);
  EXPECT_EQ(probe_signatures(empty).value(), sigs{});
}

TEST_F(real_tools, errors_name_the_path) {
  auto missing = probe_signatures((dir / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(code_of(missing.error()), errc::not_found);
  EXPECT_NE(render(missing.error()).find("nope"), std::string::npos);
  auto directory = probe_signatures(dir.string());
  ASSERT_FALSE(directory);
  EXPECT_EQ(code_of(directory.error()), errc::io_error);
}

// Finding TLS libraries (daemon/capture/tls), one section per file under test, in this order:
//   TlsMapsTest        maps.h         /proc/PID/maps parsing
//   (helpers)                         ELF files made with libelf for the tests below
//   TlsElfTest         elf_tls.h      what TLS an ELF file carries; bad files are errors
//   TlsReasonTest      reason.h       why a process's TLS is not seen
//   TlsSystemLibsTest  system_libs.h  the linker directories' libssl files
//   TlsGoProbesTest    go_probes.h    where Go's crypto/tls is probed (the end-to-end tier runs real
//                                     Go programs: tests/e2e/test_tls.py)
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "capture/tls/elf_tls.h"
#include "capture/tls/go_probes.h"
#include "capture/tls/maps.h"
#include "capture/tls/reason.h"
#include "capture/tls/system_libs.h"

namespace tracegap::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
constexpr const char* kSystemLibssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

// A fresh directory under the test temp dir, removed with its contents at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = testing::TempDir() + "tg-tls.XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
    path_ = fs::canonical(tmpl);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// ---------------------------------------------------------------------------------------------
// ParseMaps, LibsslKind

TEST(TlsMapsTest, FindsLibsslOncePerFile) {
  const ProcessMaps m = ParseMaps(
      "55d0c8a00000-55d0c8a20000 r--p 00000000 08:01 1311 /usr/sbin/nginx\n"
      "7f10c0000000-7f10c0021000 rw-p 00000000 00:00 0 \n"
      "7f10c1000000-7f10c1020000 r--p 00000000 08:01 4242 /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f10c1020000-7f10c1090000 r-xp 00020000 08:01 4242 /usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f10c2000000-7f10c2010000 r-xp 00000000 fd:02 99 /opt/app dir/lib/libssl.so.1.1\n"
      "7f10c3000000-7f10c3010000 r-xp 00000000 08:01 77 /usr/lib/libssl.so.3 (deleted)\n"
      "7f10c4000000-7f10c4010000 r-xp 00000000 08:01 78 /usr/lib/libssl.so.3.0.1\n"
      "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n");
  ASSERT_EQ(m.libssl.size(), 2u);
  EXPECT_EQ(m.libssl[0].first.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(m.libssl[0].first.inode, 4242u);
  EXPECT_EQ(m.libssl[0].first.dev_major, 8u);
  EXPECT_EQ(m.libssl[0].second, LibraryKind::kOpenSsl3);
  EXPECT_EQ(m.libssl[1].first.path, "/opt/app dir/lib/libssl.so.1.1");  // spaces kept
  EXPECT_EQ(m.libssl[1].first.dev_major, 0xfdu);
  EXPECT_EQ(m.libssl[1].first.dev_minor, 2u);
  EXPECT_EQ(m.libssl[1].second, LibraryKind::kOpenSsl11);
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/sbin/nginx");
  EXPECT_EQ(m.first_file->inode, 1311u);
  EXPECT_FALSE(m.maps_libjvm);
}

// As the kernel pads them: the path starts at column 73 on a 64-bit host, after spaces.
TEST(TlsMapsTest, RealLayout) {
  const ProcessMaps m = ParseMaps(
      "5583a5a00000-5583a5a28000 r--p 00000000 103:02 1835106                   "
      "/usr/bin/python3.11\n"
      "5583a7b3c000-5583a7c5d000 rw-p 00000000 00:00 0                          [heap]\n"
      "7f4c3d200000-7f4c3d21b000 r--p 00000000 103:02 1840022                   "
      "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f4c3d21b000-7f4c3d277000 r-xp 0001b000 103:02 1840022                   "
      "/usr/lib/x86_64-linux-gnu/libssl.so.3\n"
      "7f4c3d2a0000-7f4c3d2a2000 rw-p 00000000 00:00 0 \n"
      "7ffe1b5f1000-7ffe1b5f5000 r--p 00000000 00:00 0                          [vvar]\n"
      "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]");
  ASSERT_EQ(m.libssl.size(), 1u);
  EXPECT_EQ(m.libssl[0].first.path, "/usr/lib/x86_64-linux-gnu/libssl.so.3");
  EXPECT_EQ(m.libssl[0].first.dev_major, 0x103u);
  EXPECT_EQ(m.libssl[0].first.dev_minor, 2u);
  EXPECT_EQ(m.libssl[0].first.inode, 1840022u);
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/bin/python3.11");
}

// The same name on another device or inode is another file (a container's copy); the same
// device and inode under another name (a bind mount) is the same file.
TEST(TlsMapsTest, DistinctByDeviceAndInode) {
  const ProcessMaps m = ParseMaps(
      "1000-2000 r-xp 00000000 08:01 10 /usr/lib/libssl.so.3\n"
      "2000-3000 r-xp 00000000 08:02 10 /usr/lib/libssl.so.3\n"
      "3000-4000 r-xp 00000000 08:01 11 /usr/lib/libssl.so.3\n"
      "4000-5000 r-xp 00000000 08:01 10 /mnt/bind/libssl.so.3\n"
      "5000-6000 r-xp 00000000 08:01 12 /usr/lib/libssl.so.1.1\n"
      "6000-7000 r--p 00001000 08:01 12 /usr/lib/libssl.so.1.1\n");
  ASSERT_EQ(m.libssl.size(), 4u);
  EXPECT_EQ(m.libssl[0].first.dev_minor, 1u);
  EXPECT_EQ(m.libssl[1].first.dev_minor, 2u);
  EXPECT_EQ(m.libssl[2].first.inode, 11u);
  EXPECT_EQ(m.libssl[3].second, LibraryKind::kOpenSsl11);
}

// An executable replaced by an upgrade while it runs is still the process's executable (read
// through /proc/PID/exe); a deleted libssl cannot be probed; a deleted libjvm is still a JVM.
TEST(TlsMapsTest, DeletedFiles) {
  const ProcessMaps m = ParseMaps(
      "1000-2000 r-xp 00000000 08:01 5 /usr/bin/envoy (deleted)\n"
      "2000-3000 r-xp 00000000 08:01 6 /usr/lib/x86_64-linux-gnu/libssl.so.3 (deleted)\n"
      "3000-4000 r-xp 00000000 08:01 7 /usr/lib/jvm/lib/server/libjvm.so (deleted)\n");
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/bin/envoy (deleted)");
  EXPECT_TRUE(m.libssl.empty());
  EXPECT_TRUE(m.maps_libjvm);
}

// Anonymous and pseudo mappings (inode 0) are not files; the first file may come later.
TEST(TlsMapsTest, FirstFileSkipsAnonymousMappings) {
  const ProcessMaps m = ParseMaps(
      "1000-2000 rw-p 00000000 00:00 0 \n"
      "2000-3000 rw-p 00000000 00:00 0    [heap]\n"
      "3000-4000 r-xp 00000000 00:05 0    /dev/zero\n"
      "4000-5000 r-xp 00000000 08:01 99   /srv/bin/app server\n");
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/srv/bin/app server");
  EXPECT_FALSE(ParseMaps("").first_file.has_value());
  EXPECT_FALSE(ParseMaps("1000-2000 rw-p 00000000 00:00 0    [heap]\n").first_file.has_value());
}

TEST(TlsMapsTest, JvmAndGarbage) {
  const ProcessMaps m = ParseMaps(
      "garbage\n\n"
      "1-2 r-xp\n"
      "1-2 r-xp 0 zz:01 5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 -5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 5 relative/libssl.so.3\n"
      "1-2 r-xp 0 0801 5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 5x /x/libssl.so.3\n"
      "12 r-xp 0 08:01 5 /x/libssl.so.3\n"
      "1-2 r-x 0 08:01 5 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 99999999999999999999999 /x/libssl.so.3\n"
      "1-2 r-xp 0 08:01 5\n"
      "1-2 r-xp 0 08:01 5 \n"
      "\xff\xfe\0 r-xp\n"  // a NUL byte: the text goes on after it
      "7f-80 r-xp 00000000 08:01 12 /usr/lib/jvm/java-17/lib/server/libjvm.so\n"s);
  EXPECT_TRUE(m.libssl.empty());
  EXPECT_TRUE(m.maps_libjvm);
  ASSERT_TRUE(m.first_file.has_value());
  EXPECT_EQ(m.first_file->path, "/usr/lib/jvm/java-17/lib/server/libjvm.so");
}

TEST(TlsMapsTest, Labels) {
  EXPECT_EQ(Label(LibraryKind::kOpenSsl3), "openssl-3");
  EXPECT_EQ(Label(LibraryKind::kOpenSsl11), "openssl-1.1");
  EXPECT_EQ(LibsslKind("libssl.so.3"), LibraryKind::kOpenSsl3);
  EXPECT_EQ(LibsslKind("libssl.so.1.1"), LibraryKind::kOpenSsl11);
  for (const char* other : {"libssl.so", "libssl.so.3.1", "libssl.so.1.0.2", "libssl.so.1",
                            "libssl3.so", "libssl.so.3 (deleted)", "/usr/lib/libssl.so.3", ""}) {
    EXPECT_FALSE(LibsslKind(other).has_value()) << other;
  }
}

// ---------------------------------------------------------------------------------------------
// InspectElf on files made for the test (libelf writes them) and on the system's

struct TestSymbol {
  TestSymbol(std::string n, bool d = true, unsigned char t = STT_FUNC)
      : name(std::move(n)), defined(d), type(t) {}
  std::string name;
  bool defined;  // in .text; else undefined (imported)
  unsigned char type;
};

using Sections = std::vector<std::pair<std::string, std::string>>;  // name, contents (PROGBITS)
using Symbols = std::vector<TestSymbol>;

struct TestElf {
  Sections sections;
  Symbols symbols;
  bool dynamic = false;  // .dynsym and .dynstr instead of .symtab and .strtab
};

TestElf MadeElf(Sections sections, Symbols symbols = {}) {
  return {std::move(sections), std::move(symbols)};
}
TestElf MadeElf(Symbols symbols, bool dynamic = false) { return {{}, std::move(symbols), dynamic}; }

// Writes a small x86-64 shared object: .text, the given sections, the symbol table if any.
// Returns "" or what failed.
std::string WriteElf(const fs::path& path, const TestElf& spec) {
  if (elf_version(EV_CURRENT) == EV_NONE) return elf_errmsg(-1);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "open " + path.string() + ": " + std::strerror(errno);
  Elf* e = elf_begin(fd, ELF_C_WRITE, nullptr);
  if (e == nullptr) {
    close(fd);
    return elf_errmsg(-1);
  }
  Elf64_Ehdr* eh = elf64_newehdr(e);
  eh->e_ident[EI_DATA] = ELFDATA2LSB;
  eh->e_type = ET_DYN;
  eh->e_machine = EM_X86_64;
  eh->e_version = EV_CURRENT;
  std::string shstrtab(1, '\0');
  std::deque<std::string> buffers;  // each section's bytes, alive until elf_update
  const auto add = [&](const std::string& name, Elf64_Word type, std::string bytes,
                       Elf_Type data_type, Elf64_Xword entsize) {
    buffers.push_back(std::move(bytes));
    Elf_Scn* scn = elf_newscn(e);
    Elf_Data* d = elf_newdata(scn);
    d->d_buf = buffers.back().data();
    d->d_size = buffers.back().size();
    d->d_type = data_type;
    d->d_align = 16;
    d->d_version = EV_CURRENT;
    Elf64_Shdr* sh = elf64_getshdr(scn);
    sh->sh_name = static_cast<Elf64_Word>(shstrtab.size());
    shstrtab += name + '\0';
    sh->sh_type = type;
    sh->sh_flags = type == SHT_PROGBITS ? SHF_ALLOC : 0;
    sh->sh_entsize = entsize;
    sh->sh_addralign = 16;
    return scn;
  };
  Elf_Scn* text = add(".text", SHT_PROGBITS, std::string(16, '\xc3'), ELF_T_BYTE, 0);
  for (const auto& [name, bytes] : spec.sections) add(name, SHT_PROGBITS, bytes, ELF_T_BYTE, 0);
  if (!spec.symbols.empty()) {
    std::string strtab(1, '\0');
    std::vector<Elf64_Sym> syms(1);  // index 0: the null symbol
    for (const TestSymbol& s : spec.symbols) {
      Elf64_Sym sym{};
      sym.st_name = static_cast<Elf64_Word>(strtab.size());
      strtab += s.name + '\0';
      sym.st_info = ELF64_ST_INFO(STB_GLOBAL, s.type);
      sym.st_shndx = s.defined ? static_cast<Elf64_Section>(elf_ndxscn(text)) : SHN_UNDEF;
      sym.st_size = s.defined ? 1 : 0;
      syms.push_back(sym);
    }
    std::string symbytes(reinterpret_cast<const char*>(syms.data()), syms.size() * sizeof syms[0]);
    Elf_Scn* str = add(spec.dynamic ? ".dynstr" : ".strtab", SHT_STRTAB, strtab, ELF_T_BYTE, 0);
    Elf_Scn* sym = add(spec.dynamic ? ".dynsym" : ".symtab", spec.dynamic ? SHT_DYNSYM : SHT_SYMTAB,
                       symbytes, ELF_T_SYM, sizeof(Elf64_Sym));
    elf64_getshdr(sym)->sh_link = static_cast<Elf64_Word>(elf_ndxscn(str));
    elf64_getshdr(sym)->sh_info = 1;  // the first global symbol
  }
  // The section names last, its own included.
  Elf_Scn* names = elf_newscn(e);
  Elf64_Shdr* nsh = elf64_getshdr(names);
  nsh->sh_name = static_cast<Elf64_Word>(shstrtab.size());
  shstrtab += std::string(".shstrtab") + '\0';
  nsh->sh_type = SHT_STRTAB;
  Elf_Data* nd = elf_newdata(names);
  nd->d_buf = shstrtab.data();
  nd->d_size = shstrtab.size();
  nd->d_type = ELF_T_BYTE;
  nd->d_align = 1;
  nd->d_version = EV_CURRENT;
  elf64_getehdr(e)->e_shstrndx = static_cast<Elf64_Half>(elf_ndxscn(names));
  std::string error;
  if (elf_update(e, ELF_C_WRITE) < 0) error = std::string("elf_update: ") + elf_errmsg(-1);
  elf_end(e);
  close(fd);
  return error;
}

// InspectElf of a file made from `spec`; fails the test if it gives an error.
ElfTls Inspect(const TestElf& spec) {
  ScratchDir dir;
  const fs::path path = dir.path() / "made.so";
  const std::string written = WriteElf(path, spec);
  EXPECT_EQ(written, "");
  const auto r = InspectElf(path.string());
  if (const auto* error = std::get_if<std::string>(&r)) {
    ADD_FAILURE() << *error;
    return {};
  }
  return std::get<ElfTls>(r);
}

TEST(TlsElfTest, MadeFileWithoutAnything) {
  const ElfTls t = Inspect(TestElf{});
  EXPECT_FALSE(t.openssl_api || t.openssl_ex || t.boringssl || t.go || t.go_crypto_tls || t.rustls);
  EXPECT_TRUE(t.stripped);
}

TEST(TlsElfTest, DefinedOpenSslFunctions) {
  ElfTls t = Inspect(MadeElf(Symbols{{"SSL_write"}, {"SSL_read"}}));
  EXPECT_TRUE(t.openssl_api);
  EXPECT_FALSE(t.openssl_ex);
  EXPECT_FALSE(t.stripped);  // has .symtab
  t = Inspect(MadeElf(Symbols{{"SSL_write"}, {"SSL_read"}, {"SSL_write_ex"}, {"SSL_read_ex"}}));
  EXPECT_TRUE(t.openssl_api);
  EXPECT_TRUE(t.openssl_ex);
  // In .dynsym only (a stripped executable that exports them).
  t = Inspect(MadeElf(Symbols{{"SSL_write"}, {"SSL_read"}}, true));
  EXPECT_TRUE(t.openssl_api);
  EXPECT_TRUE(t.stripped);
  // _ex alone is not the API.
  t = Inspect(MadeElf(Symbols{{"SSL_write_ex"}, {"SSL_read_ex"}}));
  EXPECT_FALSE(t.openssl_api);
  EXPECT_FALSE(t.openssl_ex);
}

// A program that calls the system's libssl imports the functions: undefined, not its own.
TEST(TlsElfTest, ImportedOrNonFunctionSymbolsDoNotCount) {
  ElfTls t = Inspect(MadeElf(Symbols{{"SSL_write", false}, {"SSL_read", false}}, true));
  EXPECT_FALSE(t.openssl_api);
  t = Inspect(MadeElf(Symbols{{"SSL_write", true, STT_OBJECT}, {"SSL_read", true, STT_OBJECT}}));
  EXPECT_FALSE(t.openssl_api);
  t = Inspect(MadeElf(Symbols{{"SSL_write"}, {"SSL_read", false}}));
  EXPECT_FALSE(t.openssl_api);
}

TEST(TlsElfTest, BoringSslMarkers) {
  ElfTls t =
      Inspect(MadeElf(Symbols{{"SSL_write"}, {"SSL_read"}, {"SSL_CTX_set_strict_cipher_list"}}));
  EXPECT_TRUE(t.boringssl);
  EXPECT_TRUE(t.openssl_api);
  EXPECT_TRUE(Inspect(MadeElf(Symbols{{"_ZN4bssl18SSL_get_traffic_secretEPK6ssl_st"}})).boringssl);
  EXPECT_TRUE(Inspect(MadeElf(Symbols{{"bssl::ssl_run_handshake"}})).boringssl);
  // Imported, it is the program's dependency, not what it carries.
  EXPECT_FALSE(Inspect(MadeElf(Symbols{{"SSL_CTX_set_strict_cipher_list", false}})).boringssl);
}

TEST(TlsElfTest, GoSectionsAndSymbols) {
  EXPECT_TRUE(Inspect(MadeElf(Sections{{".gopclntab", std::string(64, '\1')}})).go);
  EXPECT_TRUE(Inspect(MadeElf(Sections{{".go.buildinfo", std::string(32, '\0')}})).go);
  // Position-independent Go binaries name it so.
  EXPECT_TRUE(Inspect(MadeElf(Sections{{".data.rel.ro.gopclntab", std::string(64, '\1')}})).go);
  const ElfTls t = Inspect(MadeElf(Sections{{".gopclntab", std::string(64, '\1')}},
                                   Symbols{{"crypto/tls.(*Conn).Write"}, {"main.main"}}));
  EXPECT_TRUE(t.go);
  EXPECT_TRUE(t.go_crypto_tls);
  EXPECT_FALSE(t.stripped);
}

// Go's build information magic in .data.rel.ro, where Go's debug/buildinfo finds it: at a
// 16-byte boundary only.
TEST(TlsElfTest, GoBuildInfoMagic) {
  const std::string magic = "\xff Go buildinf:";
  EXPECT_TRUE(Inspect(MadeElf(Sections{
                          {".data.rel.ro", std::string(48, '\0') + magic + std::string(18, '\0')}}))
                  .go);
  EXPECT_FALSE(Inspect(MadeElf(Sections{{".data.rel.ro",
                                         std::string(49, '\0') + magic + std::string(17, '\0')}}))
                   .go);
  EXPECT_FALSE(Inspect(MadeElf(Sections{{".data.rel.ro", std::string(64, '\0')}})).go);
  // Elsewhere it means nothing.
  EXPECT_FALSE(Inspect(MadeElf(Sections{{".rodata", magic + std::string(18, '\0')}})).go);
}

TEST(TlsElfTest, Rustls) {
  EXPECT_TRUE(
      Inspect(MadeElf(Symbols{{"_ZN6rustls4conn10ConnectionCommon5write17h0123E"}})).rustls);
  EXPECT_TRUE(Inspect(MadeElf(Symbols{{"rustls_client_connection_new", false}})).rustls);
  EXPECT_FALSE(Inspect(MadeElf(Symbols{{"ring_core_0_17_aes_hw_encrypt"}})).rustls);
}

TEST(TlsElfTest, SystemLibsslDefinesTheApi) {
  if (access(kSystemLibssl, R_OK) != 0) GTEST_SKIP() << kSystemLibssl << " is not installed";
  const auto r = InspectElf(kSystemLibssl);
  ASSERT_TRUE(std::holds_alternative<ElfTls>(r)) << std::get<std::string>(r);
  const ElfTls& t = std::get<ElfTls>(r);
  EXPECT_TRUE(t.openssl_api);
  EXPECT_TRUE(t.openssl_ex);
  EXPECT_FALSE(t.go);
  EXPECT_FALSE(t.boringssl);
  EXPECT_FALSE(t.rustls);
}

TEST(TlsElfTest, AProgramThatImportsNothingOfTls) {
  const auto r = InspectElf("/bin/ls");
  ASSERT_TRUE(std::holds_alternative<ElfTls>(r)) << std::get<std::string>(r);
  const ElfTls& t = std::get<ElfTls>(r);
  EXPECT_FALSE(t.openssl_api);
  EXPECT_FALSE(t.openssl_ex);
  EXPECT_FALSE(t.boringssl);
  EXPECT_FALSE(t.go);
  EXPECT_FALSE(t.go_crypto_tls);
  EXPECT_FALSE(t.rustls);
}

std::string ErrorOf(const std::variant<ElfTls, std::string>& r) {
  const auto* error = std::get_if<std::string>(&r);
  return error != nullptr ? *error : "(no error)";
}

TEST(TlsElfTest, BadFilesAreErrors) {
  ScratchDir dir;
  WriteAll(dir.path() / "text", "not an ELF file at all\n");
  EXPECT_NE(ErrorOf(InspectElf((dir.path() / "text").string())).find("not an ELF file"),
            std::string::npos);
  WriteAll(dir.path() / "empty", "");
  EXPECT_NE(ErrorOf(InspectElf((dir.path() / "empty").string())), "(no error)");
  const std::string missing = (dir.path() / "missing").string();
  EXPECT_EQ(ErrorOf(InspectElf(missing)).rfind("open " + missing + ": No such file or directory"),
            0u);
  EXPECT_NE(ErrorOf(InspectElf(dir.path().string())).find("not a regular file"), std::string::npos);
  // Only the ELF magic.
  WriteAll(dir.path() / "magic",
           "\x7f"
           "ELF\x02\x01\x01");
  EXPECT_NE(ErrorOf(InspectElf((dir.path() / "magic").string())), "(no error)");
}

// A truncated file is an error (libelf alone would read it as a file without sections: stripped,
// nothing known), wherever it is cut.
TEST(TlsElfTest, TruncatedFilesAreErrors) {
  ScratchDir dir;
  std::string bytes;
  if (access(kSystemLibssl, R_OK) == 0) {
    bytes = ReadAll(kSystemLibssl);
  } else {
    ASSERT_EQ(
        WriteElf(dir.path() / "whole", MadeElf(Sections{{".gopclntab", std::string(4096, 'g')}},
                                               Symbols{{"SSL_write"}, {"SSL_read"}})),
        "");
    bytes = ReadAll(dir.path() / "whole");
  }
  ASSERT_GT(bytes.size(), 4096u);
  const fs::path cut = dir.path() / "cut";
  for (const size_t size : {size_t{16}, size_t{63}, size_t{64}, size_t{65}, size_t{4096},
                            bytes.size() / 2, bytes.size() - 64, bytes.size() - 1}) {
    WriteAll(cut, std::string_view(bytes).substr(0, size));
    const std::string error = ErrorOf(InspectElf(cut.string()));
    EXPECT_NE(error, "(no error)") << "cut at " << size;
    EXPECT_EQ(error.rfind(cut.string(), 0), 0u) << error;  // names the file
  }
}

// Bytes changed anywhere in the headers and tables: an answer or an error, never a crash (the
// sanitizer build checks the reads).
TEST(TlsElfTest, CorruptFilesDoNotCrash) {
  ScratchDir dir;
  const fs::path made = dir.path() / "made";
  ASSERT_EQ(WriteElf(made, MadeElf(Sections{{".data.rel.ro", std::string(64, '\0')}},
                                   Symbols{{"SSL_write"}, {"SSL_read"}, {"rustls_x"}})),
            "");
  const std::string original = ReadAll(made);
  const fs::path bad = dir.path() / "bad";
  int errors = 0;
  for (size_t pos = 0; pos < original.size(); ++pos) {
    for (const unsigned char value : {0x00, 0x7f, 0xff}) {
      std::string bytes = original;
      bytes[pos] = static_cast<char>(value);
      WriteAll(bad, bytes);
      const auto r = InspectElf(bad.string());
      if (const auto* error = std::get_if<std::string>(&r)) {
        EXPECT_FALSE(error->empty());
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 0);
}

// ---------------------------------------------------------------------------------------------
// Diagnose

TEST(TlsReasonTest, Order) {
  ProcessMaps maps;
  maps.first_file = MappedFile{"/srv/app", 1, 8, 1};
  ElfTls go;
  go.go = true;
  go.go_crypto_tls = true;
  go.boringssl = true;  // Go wins over what it may also carry (BoringCrypto builds)
  EXPECT_EQ(Diagnose(maps, go).reason, Unseen::kGo);
  EXPECT_NE(Diagnose(maps, go).detail.find("/srv/app"), std::string::npos);
  ElfTls boring;
  boring.boringssl = true;
  boring.openssl_api = true;  // BoringSSL defines OpenSSL's API too
  boring.rustls = true;
  EXPECT_EQ(Diagnose(maps, boring).reason, Unseen::kBoringSsl);
  ElfTls statically;
  statically.openssl_api = true;
  statically.rustls = true;
  EXPECT_EQ(Diagnose(maps, statically).reason, Unseen::kStaticOpenSsl);
  EXPECT_NE(Diagnose(maps, statically).detail.find("SSL_write"), std::string::npos);
  ElfTls rust;
  rust.rustls = true;
  EXPECT_EQ(Diagnose(maps, rust).reason, Unseen::kRustls);
  EXPECT_EQ(Diagnose(maps, ElfTls{}).reason, Unseen::kNoKnownLibrary);
  const auto unreadable = Diagnose(maps, std::string("open /proc/1/exe: Permission denied"));
  EXPECT_EQ(unreadable.reason, Unseen::kUnreadable);
  EXPECT_NE(unreadable.detail.find("Permission denied"), std::string::npos);
  maps.maps_libjvm = true;  // a JVM wins over what its launcher links
  EXPECT_EQ(Diagnose(maps, statically).reason, Unseen::kJava);
  EXPECT_EQ(Diagnose(maps, go).reason, Unseen::kJava);
  // ... but not over an executable that cannot be read.
  EXPECT_EQ(Diagnose(maps, std::string("x")).reason, Unseen::kUnreadable);
}

TEST(TlsReasonTest, WithoutAFileMapping) {
  ElfTls statically;
  statically.openssl_api = true;
  const Diagnosis d = Diagnose(ProcessMaps{}, statically);
  EXPECT_EQ(d.reason, Unseen::kStaticOpenSsl);
  EXPECT_FALSE(d.detail.empty());
}

TEST(TlsReasonTest, Labels) {
  EXPECT_EQ(Label(Unseen::kGo), "go");
  EXPECT_EQ(Label(Unseen::kStaticOpenSsl), "static_openssl");
  EXPECT_EQ(Label(Unseen::kBoringSsl), "boringssl");
  EXPECT_EQ(Label(Unseen::kJava), "java");
  EXPECT_EQ(Label(Unseen::kRustls), "rustls");
  EXPECT_EQ(Label(Unseen::kNoKnownLibrary), "no_known_library");
  EXPECT_EQ(Label(Unseen::kUnreadable), "unreadable");
  std::set<std::string_view> labels;
  for (Unseen u : kAllUnseen) {
    EXPECT_FALSE(Label(u).empty());
    EXPECT_TRUE(labels.insert(Label(u)).second) << Label(u);
  }
}

// ---------------------------------------------------------------------------------------------
// FindSystemLibssl

// The first 64 bytes of this test's own executable: an ELF header of this machine.
std::string NativeElfHeader() {
  std::string h(64, '\0');
  std::ifstream("/proc/self/exe", std::ios::binary).read(h.data(), 64);
  return h;
}

// The same header, for the 32-bit flavour of this machine (a biarch library).
std::string Elf32Header() {
  std::string h = NativeElfHeader();
  h[EI_CLASS] = ELFCLASS32;
  return h;
}

TEST(TlsSystemLibsTest, LinkerDirectoriesAndIncludes) {
  ScratchDir dir;
  const fs::path& root = dir.path();
  fs::create_directories(root / "usr/lib/x86_64-linux-gnu");
  fs::create_directories(root / "opt/ssl/lib");
  fs::create_directories(root / "etc/ld.so.conf.d");
  WriteAll(root / "usr/lib/x86_64-linux-gnu/libssl.so.3", NativeElfHeader());
  // The same file under a second name is one library.
  fs::create_directory_symlink(root / "usr/lib/x86_64-linux-gnu", root / "usr/lib64");
  WriteAll(root / "opt/ssl/lib/libssl.so.1.1", NativeElfHeader());
  WriteAll(root / "etc/ld.so.conf", "# comment\ninclude /etc/ld.so.conf.d/*.conf\n");
  WriteAll(root / "etc/ld.so.conf.d/ssl.conf", "  /opt/ssl/lib  \n");
  const auto libs = FindSystemLibssl(root.string());
  ASSERT_EQ(libs.size(), 2u);
  EXPECT_EQ(libs[0].first, fs::canonical(root / "usr/lib/x86_64-linux-gnu/libssl.so.3").string());
  EXPECT_EQ(libs[0].second, LibraryKind::kOpenSsl3);
  EXPECT_EQ(libs[1].first, fs::canonical(root / "opt/ssl/lib/libssl.so.1.1").string());
  EXPECT_EQ(libs[1].second, LibraryKind::kOpenSsl11);
}

// ldconfig's rules: relative include patterns from the including file's directory, several
// patterns on a line, trailing slashes, comments; loops and empty includes are harmless.
TEST(TlsSystemLibsTest, LdConfRules) {
  ScratchDir dir;
  const fs::path& root = dir.path();
  for (const char* d : {"etc/ld.so.conf.d", "etc/more", "opt/a", "opt/b", "opt/c/lib", "opt/real",
                        "usr/lib32", "usr/local/lib", "usr/lib/libssl.so.3"})
    fs::create_directories(root / d);
  WriteAll(root / "etc/ld.so.conf",
           "include ld.so.conf.d/*.conf\t# relative: from /etc\n"
           "include\n"
           "include   \n"
           "includes /opt/nothing\n"
           "hwcap 0 nosegneg\n");
  WriteAll(root / "etc/ld.so.conf.d/a.conf", "/opt/a/ # trailing slash\n");
  WriteAll(root / "etc/ld.so.conf.d/b.conf",
           "include /etc/more/one.conf ../ld.so.conf /etc/none/*.conf\n/opt/b\n");
  WriteAll(root / "etc/more/one.conf", "/opt/c/lib\r\n/usr/lib32\ninclude /etc/ld.so.conf\n");
  WriteAll(root / "opt/a/libssl.so.3", NativeElfHeader());
  WriteAll(root / "opt/b/libssl.so.1.1", NativeElfHeader());
  // A relative symlink to the real file: named by its real path.
  WriteAll(root / "opt/real/libssl.so.3", NativeElfHeader());
  fs::create_symlink("../../real/libssl.so.3", root / "opt/c/lib/libssl.so.3");
  // Not libraries to attach: 32-bit, not ELF, a directory.
  WriteAll(root / "usr/lib32/libssl.so.3", Elf32Header());
  WriteAll(root / "usr/local/lib/libssl.so.3", "INPUT(-lssl)\n");
  const auto libs = FindSystemLibssl(root.string());
  std::set<std::pair<std::string, LibraryKind>> got(libs.begin(), libs.end());
  EXPECT_EQ(got.size(), libs.size());  // none twice
  const std::set<std::pair<std::string, LibraryKind>> want = {
      {(root / "opt/a/libssl.so.3").string(), LibraryKind::kOpenSsl3},
      {(root / "opt/b/libssl.so.1.1").string(), LibraryKind::kOpenSsl11},
      {(root / "opt/real/libssl.so.3").string(), LibraryKind::kOpenSsl3},
  };
  EXPECT_EQ(got, want);
}

TEST(TlsSystemLibsTest, NothingUnderAnEmptyRoot) {
  ScratchDir dir;
  EXPECT_TRUE(FindSystemLibssl(dir.path().string()).empty());
  EXPECT_TRUE(FindSystemLibssl((dir.path() / "missing").string()).empty());
}

// On this host: the system's libssl.so.3 once, though /lib and /usr/lib both lead to it on a
// merged-/usr system, and every file found defines the OpenSSL API.
TEST(TlsSystemLibsTest, ThisHost) {
  if (access(kSystemLibssl, R_OK) != 0) GTEST_SKIP() << kSystemLibssl << " is not installed";
  const auto libs = FindSystemLibssl();
  const std::string real = fs::canonical(kSystemLibssl).string();
  EXPECT_EQ(std::count_if(libs.begin(), libs.end(), [&](const auto& l) { return l.first == real; }),
            1);
  for (const auto& [path, kind] : libs) {
    const auto r = InspectElf(path);
    ASSERT_TRUE(std::holds_alternative<ElfTls>(r)) << std::get<std::string>(r);
    EXPECT_TRUE(std::get<ElfTls>(r).openssl_api) << path;
  }
}

}  // namespace
}  // namespace tracegap::tls

namespace tracegap::tls {
namespace {

TEST(TlsGoProbesTest, NotAGoProgramIsAnErrorWithItsCause) {
  auto r = FindGoTlsProbes("/nonexistent/tg-go");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  EXPECT_NE(std::get<std::string>(r).find("No such file"), std::string::npos);
  // /bin/ls: stripped, or without Go's symbols: either way, said.
  r = FindGoTlsProbes("/bin/ls");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
  const std::string& why = std::get<std::string>(r);
  EXPECT_TRUE(why.find("stripped") != std::string::npos ||
              why.find("crypto/tls.(*Conn).Write") != std::string::npos)
      << why;
  // This test binary has a .symtab (RelWithDebInfo) but no Go.
  r = FindGoTlsProbes("/proc/self/exe");
  ASSERT_TRUE(std::holds_alternative<std::string>(r));
}

}  // namespace
}  // namespace tracegap::tls

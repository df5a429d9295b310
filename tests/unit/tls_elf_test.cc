// Tests InspectElf (daemon/capture/tls/elf_tls.h): what TLS an ELF file carries, on files made
// for the test with libelf and on the system's libssl; bad, truncated and corrupt files are errors.
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "capture/tls/elf_tls.h"
#include "support/tls_files.h"

namespace tracegap::tls {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using namespace tracegap::test;  // NOLINT: ScratchDir, ReadAll, WriteAll, kSystemLibssl

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

}  // namespace
}  // namespace tracegap::tls

#include "capture/tls/elf_tls.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <string_view>

#include "errno_text.h"

namespace tracegap::tls {
namespace {

// A symbol table (or its string table) larger than this is not read: bounded work and memory for
// any file a process may run. Go's .symtab of 100k entries is about 2.4 MiB.
constexpr uint64_t kMaxSymbolTableBytes = 64u << 20;

// Go's build information: 16-byte aligned within the first 64 KiB of where it starts (the
// .go.buildinfo section, else the first writable segment), as Go's own debug/buildinfo looks.
constexpr std::string_view kGoBuildInfoMagic = "\xff Go buildinf:";
constexpr uint64_t kGoBuildInfoAlign = 16;
constexpr uint64_t kGoBuildInfoWindow = 64u << 10;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

struct ElfHandle {
  Elf* e = nullptr;
  ~ElfHandle() {
    if (e != nullptr) elf_end(e);
  }
};

// The OpenSSL entry points defined (not imported) so far.
struct Defined {
  bool write = false, read = false, write_ex = false, read_ex = false;
};

void NoteSymbol(std::string_view name, bool defined, ElfTls* t, Defined* d) {
  if (defined) {
    if (name == "SSL_write") d->write = true;
    if (name == "SSL_read") d->read = true;
    if (name == "SSL_write_ex") d->write_ex = true;
    if (name == "SSL_read_ex") d->read_ex = true;
    // BoringSSL keeps OpenSSL's API names (openssl_api holds too); these tell it apart.
    if (name == "SSL_CTX_set_strict_cipher_list" || name.starts_with("_ZN4bssl") ||
        name.starts_with("bssl::"))
      t->boringssl = true;
  }
  if (name == "crypto/tls.(*Conn).Write") t->go_crypto_tls = true;
  if (name.find("rustls") != std::string_view::npos) t->rustls = true;
}

// Whether [offset, offset + size) of the file fits in a file of `file_size` bytes.
bool Fits(uint64_t offset, uint64_t size, uint64_t file_size) {
  return offset <= file_size && size <= file_size - offset;
}

// Whether Go's build information magic is at a 16-byte boundary in the first 64 KiB of
// [offset, offset + size) of the file. Read with pread: a few KiB whatever the file's size.
bool HasGoBuildInfo(int fd, uint64_t offset, uint64_t size, uint64_t file_size) {
  if (offset >= file_size) return false;
  const uint64_t want = std::min({size, file_size - offset, kGoBuildInfoWindow});
  std::string buf(want, '\0');
  const ssize_t n = pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
  if (n <= 0) return false;
  const std::string_view data(buf.data(), static_cast<size_t>(n));
  for (size_t i = 0; i + kGoBuildInfoMagic.size() <= data.size(); i += kGoBuildInfoAlign) {
    if (data.substr(i, kGoBuildInfoMagic.size()) == kGoBuildInfoMagic) return true;
  }
  return false;
}

// Checks that the program and section header tables lie inside the file. From the ELF header's
// own counts: libelf takes a section header table past the end of the file for none at all, and
// a truncated file would read as "stripped, nothing known".
std::string CheckTables(const GElf_Ehdr& eh, uint64_t file_size) {
  const auto table_fits = [file_size](uint64_t offset, uint64_t count, uint64_t entsize) {
    if (count == 0) return true;
    if (entsize == 0 || count > file_size / entsize) return false;
    return Fits(offset, count * entsize, file_size);
  };
  // Past 0xffff program headers or 0xff00 sections the count is in section 0: one entry at least.
  const uint64_t phnum = eh.e_phnum == PN_XNUM ? 1 : eh.e_phnum;
  const uint64_t shnum = eh.e_shnum == 0 && eh.e_shoff != 0 ? 1 : eh.e_shnum;
  if (!table_fits(eh.e_phoff, phnum, eh.e_phentsize)) {
    return "truncated or corrupt: " + std::to_string(phnum) + " program headers at offset " +
           std::to_string(eh.e_phoff) + " run past the end of the file (" +
           std::to_string(file_size) + " bytes)";
  }
  if (!table_fits(eh.e_shoff, shnum, eh.e_shentsize)) {
    return "truncated or corrupt: " + std::to_string(shnum) + " section headers at offset " +
           std::to_string(eh.e_shoff) + " run past the end of the file (" +
           std::to_string(file_size) + " bytes)";
  }
  return "";
}

}  // namespace

std::variant<ElfTls, std::string> InspectElf(const std::string& path) {
  static const bool elf_ok = elf_version(EV_CURRENT) != EV_NONE;
  if (!elf_ok) return std::string("libelf: ") + elf_errmsg(-1);
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "open " + path + ": " + ErrnoTextWithNumber(errno);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return "stat " + path + ": " + ErrnoTextWithNumber(errno);
  if (!S_ISREG(st.st_mode)) return path + ": not a regular file";
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  ElfHandle h;
  // ELF_C_READ, not ELF_C_READ_MMAP: a mapped file that shrinks while it is read (a library
  // rewritten in place) would kill the daemon with SIGBUS; read() only comes up short.
  h.e = elf_begin(fd.get(), ELF_C_READ, nullptr);
  if (h.e == nullptr) return path + ": " + elf_errmsg(-1);
  if (elf_kind(h.e) != ELF_K_ELF) return path + ": not an ELF file";
  GElf_Ehdr eh;
  if (gelf_getehdr(h.e, &eh) == nullptr) return path + ": " + elf_errmsg(-1);
  if (std::string bad = CheckTables(eh, file_size); !bad.empty()) return path + ": " + bad;
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(h.e, &shstrndx) != 0) return path + ": " + elf_errmsg(-1);

  ElfTls t;
  Defined d;
  bool has_symtab = false;
  for (Elf_Scn* scn = elf_nextscn(h.e, nullptr); scn != nullptr; scn = elf_nextscn(h.e, scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) return path + ": " + elf_errmsg(-1);
    const char* name = elf_strptr(h.e, shstrndx, sh.sh_name);
    const std::string_view sname = name != nullptr ? name : "";
    if (sh.sh_type != SHT_NOBITS && !Fits(sh.sh_offset, sh.sh_size, file_size)) {
      return path + ": truncated or corrupt: section " + std::to_string(elf_ndxscn(scn)) + " (" +
             std::string(sname) + ") runs past the end of the file (" + std::to_string(file_size) +
             " bytes)";
    }
    // Go's pclntab is .data.rel.ro.gopclntab in a position-independent Go binary.
    if (sname == ".gopclntab" || sname == ".data.rel.ro.gopclntab" || sname == ".go.buildinfo")
      t.go = true;
    if (!t.go && sname == ".data.rel.ro" && sh.sh_type != SHT_NOBITS)
      t.go = HasGoBuildInfo(fd.get(), sh.sh_offset, sh.sh_size, file_size);
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    if (sh.sh_type == SHT_SYMTAB) has_symtab = true;
    if (sh.sh_size > kMaxSymbolTableBytes || sh.sh_entsize == 0) continue;
    // Its names: elf_strptr reads the whole string table, so that is bounded too.
    GElf_Shdr strsh;
    Elf_Scn* strscn = elf_getscn(h.e, sh.sh_link);
    if (strscn == nullptr || gelf_getshdr(strscn, &strsh) == nullptr ||
        strsh.sh_size > kMaxSymbolTableBytes)
      continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) return path + ": symbols of " + std::string(sname) + ": " + elf_errmsg(-1);
    const uint64_t count = std::min<uint64_t>(sh.sh_size / sh.sh_entsize, INT_MAX);
    for (uint64_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      const char* sn = elf_strptr(h.e, sh.sh_link, sym.st_name);
      if (sn == nullptr || *sn == '\0') continue;
      const bool defined = sym.st_shndx != SHN_UNDEF && GELF_ST_TYPE(sym.st_info) == STT_FUNC;
      NoteSymbol(sn, defined, &t, &d);
    }
  }
  // No section headers (removed by sstrip or a packer): the build information where Go's
  // debug/buildinfo looks, at the start of a writable segment (the first one, or the second in a
  // position-independent binary, whose first is .data.rel.ro).
  size_t shnum = 0, phnum = 0;
  if (!t.go && elf_getshdrnum(h.e, &shnum) == 0 && shnum == 0 && elf_getphdrnum(h.e, &phnum) == 0) {
    for (size_t i = 0; i < phnum && !t.go; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(h.e, static_cast<int>(i), &ph) == nullptr) break;
      if (ph.p_type != PT_LOAD || (ph.p_flags & (PF_X | PF_W)) != PF_W) continue;
      t.go = HasGoBuildInfo(fd.get(), ph.p_offset, ph.p_filesz, file_size);
    }
  }
  t.openssl_api = d.write && d.read;
  t.openssl_ex = t.openssl_api && d.write_ex && d.read_ex;
  t.stripped = !has_symtab;
  return t;
}

}  // namespace tracegap::tls

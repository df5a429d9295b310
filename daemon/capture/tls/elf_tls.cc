#include "capture/tls/elf_tls.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "errno_text.h"

namespace tracegap::tls {
namespace {

constexpr size_t kMaxSymbolTableBytes = 64u << 20;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
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

void NoteSymbol(std::string_view name, bool defined, ElfTls* t, bool* has_write, bool* has_read,
                bool* has_write_ex, bool* has_read_ex) {
  if (defined) {
    if (name == "SSL_write") *has_write = true;
    if (name == "SSL_read") *has_read = true;
    if (name == "SSL_write_ex") *has_write_ex = true;
    if (name == "SSL_read_ex") *has_read_ex = true;
    if (name == "SSL_CTX_set_strict_cipher_list" || name.starts_with("_ZN4bssl") ||
        name.starts_with("bssl::"))
      t->boringssl = true;
  }
  if (name == "crypto/tls.(*Conn).Write") t->go_crypto_tls = true;
  if (name.find("rustls") != std::string_view::npos) t->rustls = true;
}

}  // namespace

std::variant<ElfTls, std::string> InspectElf(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) return std::string("libelf: ") + elf_errmsg(-1);
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return "open " + path + ": " + ErrnoTextWithNumber(errno);
  ElfHandle h;
  h.e = elf_begin(fd.get(), ELF_C_READ_MMAP, nullptr);
  if (h.e == nullptr) return path + ": " + elf_errmsg(-1);
  if (elf_kind(h.e) != ELF_K_ELF) return path + ": not an ELF file";
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(h.e, &shstrndx) != 0) return path + ": " + elf_errmsg(-1);
  ElfTls t;
  bool has_symtab = false, has_write = false, has_read = false, has_write_ex = false,
       has_read_ex = false;
  for (Elf_Scn* scn = elf_nextscn(h.e, nullptr); scn != nullptr; scn = elf_nextscn(h.e, scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    const char* name = elf_strptr(h.e, shstrndx, sh.sh_name);
    const std::string_view sname = name != nullptr ? name : "";
    if (sname == ".gopclntab" || sname == ".go.buildinfo") t.go = true;
    if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) continue;
    if (sh.sh_type == SHT_SYMTAB) has_symtab = true;
    if (sh.sh_size > kMaxSymbolTableBytes || sh.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) continue;
    const size_t count = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      const char* sn = elf_strptr(h.e, sh.sh_link, sym.st_name);
      if (sn == nullptr || *sn == '\0') continue;
      const bool defined = sym.st_shndx != SHN_UNDEF && GELF_ST_TYPE(sym.st_info) == STT_FUNC;
      NoteSymbol(sn, defined, &t, &has_write, &has_read, &has_write_ex, &has_read_ex);
    }
  }
  t.openssl_api = has_write && has_read;
  t.openssl_ex = t.openssl_api && has_write_ex && has_read_ex;
  t.stripped = !has_symtab;
  return t;
}

}  // namespace tracegap::tls

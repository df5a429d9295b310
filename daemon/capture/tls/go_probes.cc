#include "capture/tls/go_probes.h"

#include <capstone/capstone.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string_view>

#include "errno_text.h"

namespace tracegap::tls {
namespace {

constexpr std::string_view kWrite = "crypto/tls.(*Conn).Write";
constexpr std::string_view kRead = "crypto/tls.(*Conn).Read";
constexpr std::string_view kClientHandshake = "crypto/tls.(*Conn).clientHandshake";
constexpr std::string_view kServerHandshake = "crypto/tls.(*Conn).serverHandshake";
// A function larger than this is not disassembled (Write and Read are a few hundred bytes).
constexpr uint64_t kMaxFunctionBytes = 64 * 1024;

struct Symbol {
  uint64_t vaddr = 0, size = 0;
};

class ElfFile {
 public:
  ~ElfFile() {
    if (elf_ != nullptr) elf_end(elf_);
    if (fd_ >= 0) close(fd_);
  }
  std::string Open(const std::string& path) {
    if (elf_version(EV_CURRENT) == EV_NONE) return std::string("libelf: ") + elf_errmsg(-1);
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return "open " + path + ": " + ErrnoTextWithNumber(errno);
    elf_ = elf_begin(fd_, ELF_C_READ_MMAP, nullptr);
    if (elf_ == nullptr || elf_kind(elf_) != ELF_K_ELF) return path + ": not an ELF file";
    return "";
  }
  Elf* get() const { return elf_; }

 private:
  int fd_ = -1;
  Elf* elf_ = nullptr;
};

// The file offset of virtual address `vaddr`, from the loadable segment that holds it.
bool FileOffset(Elf* e, uint64_t vaddr, uint64_t* out) {
  size_t n = 0;
  if (elf_getphdrnum(e, &n) != 0) return false;
  for (size_t i = 0; i < n; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(e, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
    if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
      *out = vaddr - ph.p_vaddr + ph.p_offset;
      return true;
    }
  }
  return false;
}

template <class T>
bool ReadAt(std::string_view bytes, uint64_t at, T* out) {
  if (at > bytes.size() || bytes.size() - at < sizeof(T)) return false;
  std::memcpy(out, bytes.data() + at, sizeof(T));
  return true;
}

// The wanted functions' addresses and sizes from Go's own function table (.gopclntab), which a
// stripped binary keeps (the runtime needs it). Go 1.18+ layout (magic 0xfffffff0, 1.20+
// 0xfffffff1): a header of 8 pointer-sized words (nfunc, nfiles, textStart, then the offsets of
// funcnametab, cutab, filetab, pctab, pclntab), then at pclntab: nfunc+1 pairs {entryOff u32,
// funcOff u32}; each _func at pclntab+funcOff starts {entryOff u32, nameOff i32 into funcnametab}.
// Little-endian, 64-bit only (what the probes support). "" or why not.
std::string FromPclntab(Elf* e, std::map<std::string_view, Symbol>* want) {
  std::string_view tab;
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(e, &shstrndx) != 0) return "no section names";
  for (Elf_Scn* scn = elf_nextscn(e, nullptr); scn != nullptr; scn = elf_nextscn(e, scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    const char* name = elf_strptr(e, shstrndx, sh.sh_name);
    if (name == nullptr) continue;
    const std::string_view n(name);
    if (n != ".gopclntab" && n != ".data.rel.ro.gopclntab") continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr) return "its .gopclntab cannot be read";
    tab = std::string_view(static_cast<const char*>(data->d_buf), data->d_size);
  }
  if (tab.empty()) return "no .gopclntab section";
  uint32_t magic = 0;
  if (!ReadAt(tab, 0, &magic) || (magic != 0xfffffff0 && magic != 0xfffffff1))
    return "its .gopclntab is not Go 1.18 or later's (magic " + std::to_string(magic) + ")";
  if (tab.size() < 8 || tab[7] != 8) return "its .gopclntab is not a 64-bit one";
  uint64_t h[8];
  for (int i = 0; i < 8; ++i) {
    if (!ReadAt(tab, 8 + 8 * static_cast<uint64_t>(i), &h[i])) return "its .gopclntab is truncated";
  }
  const uint64_t nfunc = h[0], text = h[2], funcnames = h[3], pcln = h[7];
  if (nfunc > (1u << 24)) return "its .gopclntab claims " + std::to_string(nfunc) + " functions";
  size_t found = 0;
  for (uint64_t i = 0; i < nfunc && found < want->size(); ++i) {
    uint32_t entry = 0, funcoff = 0, next = 0, func_entry = 0;
    int32_t nameoff = 0;
    if (!ReadAt(tab, pcln + 8 * i, &entry) || !ReadAt(tab, pcln + 8 * i + 4, &funcoff) ||
        !ReadAt(tab, pcln + 8 * (i + 1), &next) || !ReadAt(tab, pcln + funcoff, &func_entry) ||
        !ReadAt(tab, pcln + funcoff + 4, &nameoff) || nameoff < 0)
      return "its .gopclntab is truncated";
    const uint64_t at = funcnames + static_cast<uint64_t>(nameoff);
    if (at >= tab.size()) return "its .gopclntab names lie outside it";
    const std::string_view rest = tab.substr(at);
    const std::string_view name = rest.substr(0, rest.find('\0'));
    auto it = want->find(name);
    if (it == want->end() || next <= entry) continue;
    it->second = {text + entry, next - entry};
    ++found;
  }
  return "";
}

}  // namespace

std::variant<GoTlsProbes, std::string> FindGoTlsProbes(const std::string& path) {
  ElfFile f;
  if (std::string err = f.Open(path); !err.empty()) return err;
  Elf* e = f.get();
  GElf_Ehdr eh;
  if (gelf_getehdr(e, &eh) == nullptr) return path + ": " + elf_errmsg(-1);
  std::map<std::string_view, Symbol> want{
      {kWrite, {}}, {kRead, {}}, {kClientHandshake, {}}, {kServerHandshake, {}}};
  bool symtab = false;
  for (Elf_Scn* scn = elf_nextscn(e, nullptr); scn != nullptr; scn = elf_nextscn(e, scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_SYMTAB || sh.sh_entsize == 0)
      continue;
    symtab = true;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) continue;
    const size_t count = sh.sh_size / sh.sh_entsize;
    for (size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF) continue;
      const char* name = elf_strptr(e, sh.sh_link, sym.st_name);
      if (name == nullptr) continue;
      auto it = want.find(name);
      if (it != want.end()) it->second = {sym.st_value, sym.st_size};
    }
  }
  if (!symtab || want[kWrite].vaddr == 0 || want[kRead].vaddr == 0) {
    // Stripped (or symbols renamed): Go's own function table.
    const std::string why = FromPclntab(e, &want);
    if (!why.empty())
      return path + (symtab ? "" : " is stripped (no .symtab) and") + " " + why +
             ": its crypto/tls functions cannot be found";
  }
  csh cs;
  const cs_arch arch = eh.e_machine == EM_AARCH64 ? CS_ARCH_ARM64 : CS_ARCH_X86;
  const cs_mode mode = eh.e_machine == EM_AARCH64 ? CS_MODE_ARM : CS_MODE_64;
  if (eh.e_machine != EM_X86_64 && eh.e_machine != EM_AARCH64)
    return path + ": not an x86-64 or arm64 binary (e_machine " + std::to_string(eh.e_machine) +
           ")";
  if (cs_open(arch, mode, &cs) != CS_ERR_OK) return "capstone: cannot open a disassembler";
  cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
  GoTlsProbes probes;
  std::string error;
  size_t file_size = 0;
  const char* image = elf_rawfile(e, &file_size);
  auto find = [&](std::string_view name, GoFunction* out, bool returns) {
    const Symbol s = want[name];
    if (s.vaddr == 0) {
      error = path + " has no " + std::string(name) + " symbol";
      return false;
    }
    uint64_t off = 0;
    if (!FileOffset(e, s.vaddr, &off) || image == nullptr || s.size == 0 ||
        s.size > kMaxFunctionBytes || off + s.size > file_size) {
      error = path + ": " + std::string(name) + " is not in a loadable segment of the file";
      return false;
    }
    out->entry = off;
    cs_insn* insn = nullptr;
    const size_t n =
        cs_disasm(cs, reinterpret_cast<const uint8_t*>(image + off), s.size, s.vaddr, 0, &insn);
    // The prologue's stack check: the first conditional jump, within the first few instructions.
    for (size_t i = 0; i + 1 < n && i < 8; ++i) {
      const bool jump = cs_insn_group(cs, &insn[i], CS_GRP_JUMP);
      const bool conditional = arch == CS_ARCH_X86
                                   ? insn[i].id != X86_INS_JMP
                                   : insn[i].detail != nullptr &&
                                         insn[i].detail->arm64.cc != ARM64_CC_INVALID &&
                                         insn[i].detail->arm64.cc != ARM64_CC_AL;
      if (jump && conditional) {
        out->entry = insn[i + 1].address - s.vaddr + off;
        break;
      }
    }
    if (!returns) {
      if (n > 0) cs_free(insn, n);
      return true;
    }
    for (size_t i = 0; i < n; ++i) {
      if (insn[i].id == (arch == CS_ARCH_X86 ? static_cast<unsigned>(X86_INS_RET)
                                             : static_cast<unsigned>(ARM64_INS_RET)))
        out->returns.push_back(insn[i].address - s.vaddr + off);
    }
    if (n > 0) cs_free(insn, n);
    if (out->returns.empty()) {
      error = path + ": no RET instruction found in " + std::string(name);
      return false;
    }
    return true;
  };
  const bool ok = find(kWrite, &probes.write, false) && find(kRead, &probes.read, true);
  for (std::string_view hs : {kClientHandshake, kServerHandshake}) {
    GoFunction fn;
    std::string keep = error;
    if (find(hs, &fn, false)) probes.handshakes.push_back(fn.entry);
    error = keep;
  }
  cs_close(&cs);
  if (!ok) return error;
  return probes;
}

}  // namespace tracegap::tls

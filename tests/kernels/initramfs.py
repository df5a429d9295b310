"""A tiny initramfs for booting a kernel under qemu with the host's root file system over 9p.

It holds busybox (Debian's busybox-static), the kernel modules needed for 9p over virtio-pci
(with their dependencies, in load order, decompressed), /dev/console, and tests/kernels/init.sh
as /init. Written as cpio "newc", gzip-compressed, by this module (no cpio tool needed).

    python3 initramfs.py KERNEL_DIR RELEASE OUT.cpio.gz     # KERNEL_DIR as fetch_kernel.sh makes it
"""
import gzip
import lzma
import os
import shutil
import stat
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INIT = os.path.join(HERE, "init.sh")
BUSYBOX = "/bin/busybox"

# What the guest needs beyond the kernel's built-ins: 9p (the host root, the results share) over
# virtio-pci. Dependencies (netfs, fscache, virtio_ring, ...) are added from the kernel's own data.
WANTED_MODULES = ["virtio_pci", "9pnet_virtio", "9p"]


class InitramfsError(Exception):
    pass


def _norm(name):
    return name.replace("-", "_")


def _strip_ext(filename):
    for ext in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if filename.endswith(ext):
            return filename[: -len(ext)]
    return None


def decompress(path):
    """The bytes of a module file, decompressed when it is .ko.xz, .ko.gz or .ko.zst (busybox
    insmod may not handle compressed modules)."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        zstd = shutil.which("zstd")
        if not zstd:
            raise InitramfsError(f"{path} is zstd-compressed and there is no zstd (apt install zstd)")
        return subprocess.run([zstd, "-dc", path], check=True, capture_output=True).stdout
    return data


def modinfo(ko_bytes):
    """{key: value} of a module's .modinfo section (ELF64 little-endian)."""
    if ko_bytes[:4] != b"\x7fELF" or ko_bytes[4] != 2:
        raise InitramfsError("not an ELF64 module")
    shoff = struct.unpack_from("<Q", ko_bytes, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", ko_bytes, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", ko_bytes, shoff + i * shentsize) for i in range(shnum)]
    names_off = sections[shstrndx][4]
    for sh_name, _type, _flags, _addr, offset, size, *_ in sections:
        start = names_off + sh_name
        if ko_bytes[start:ko_bytes.index(b"\0", start)] == b".modinfo":
            out = {}
            for item in ko_bytes[offset:offset + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.split(b"=", 1)
                    out.setdefault(k.decode(), v.decode(errors="replace"))
            return out
    return {}


def resolve_modules(moddir, wanted=WANTED_MODULES):
    """[(name, path)] of the modules `wanted` and everything they depend on, dependencies first.
    Built-in modules (modules.builtin) are left out. Dependencies come from modules.dep when the
    tree has one (an unpacked, never depmod-ed .deb has not), else from each module's .modinfo."""
    paths = {}
    for root, _dirs, files in os.walk(os.path.join(moddir, "kernel")):
        for fn in files:
            name = _strip_ext(fn)
            if name:
                paths[_norm(name)] = os.path.join(root, fn)
    builtin = set()
    builtin_file = os.path.join(moddir, "modules.builtin")
    if os.path.exists(builtin_file):
        with open(builtin_file) as f:
            builtin = {_norm(_strip_ext(os.path.basename(l.strip())) or "") for l in f if l.strip()}
    deps_of = {}
    dep_file = os.path.join(moddir, "modules.dep")
    if os.path.exists(dep_file):
        with open(dep_file) as f:
            for line in f:
                if ":" not in line:
                    continue
                mod, deps = line.split(":", 1)
                key = _norm(_strip_ext(os.path.basename(mod.strip())) or "")
                deps_of[key] = [_norm(_strip_ext(os.path.basename(d)) or "") for d in deps.split()]

    def deps(name):
        if name not in deps_of:
            info = modinfo(decompress(paths[name]))
            deps_of[name] = [_norm(d) for d in info.get("depends", "").split(",") if d]
        return deps_of[name]

    order, state = [], {}

    def visit(name, chain):
        if name in builtin:
            return
        if name not in paths:
            raise InitramfsError(f"module {name} (needed by {' <- '.join(chain) or 'the guest'}) "
                                 f"is neither built in nor under {moddir}/kernel")
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise InitramfsError(f"module dependency cycle: {' -> '.join(chain + [name])}")
        state[name] = "visiting"
        for d in deps(name):
            visit(d, chain + [name])
        state[name] = "done"
        order.append(name)

    for w in wanted:
        visit(_norm(w), [])
    return [(n, paths[n]) for n in order]


def is_static_elf(path):
    """True when the ELF file has no program interpreter (PT_INTERP)."""
    with open(path, "rb") as f:
        data = f.read(65536)
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3:  # PT_INTERP
            return False
    return True


class Cpio:
    """A cpio archive in the "newc" format, as the kernel's initramfs unpacker reads it."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _entry(self, name, mode, data=b"", rdev=(0, 0), nlink=1):
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % v for v in fields) + name_b
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def dir(self, name, perm=0o755):
        self._entry(name, stat.S_IFDIR | perm, nlink=2)

    def file(self, name, data, perm=0o644):
        self._entry(name, stat.S_IFREG | perm, data)

    def chardev(self, name, major, minor, perm=0o600):
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def finish(self):
        self._entry("TRAILER!!!", 0)
        self.out += b"\0" * (-len(self.out) % 512)
        return bytes(self.out)


def build(kernel_dir, release, out_path, busybox=BUSYBOX, init=INIT):
    """Writes the initramfs to out_path; returns the module names, in load order."""
    moddir = os.path.join(kernel_dir, "lib", "modules", release)
    if not os.path.isdir(moddir):
        raise InitramfsError(f"no modules at {moddir}")
    if not os.path.exists(busybox):
        raise InitramfsError(f"{busybox} missing: install Debian's busybox-static")
    if not is_static_elf(busybox):
        raise InitramfsError(f"{busybox} is dynamically linked: install busybox-static (not busybox)")
    mods = resolve_modules(moddir)
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)
    with open(busybox, "rb") as f:
        c.file("bin/busybox", f.read(), 0o755)
    with open(init, "rb") as f:
        c.file("init", f.read(), 0o755)
    for i, (name, path) in enumerate(mods):
        c.file(f"lib/modules/{i:02d}-{name}.ko", decompress(path))
    c.file("modules.list", "".join(f"{i:02d}-{n}.ko\n" for i, (n, _) in enumerate(mods)).encode())
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(gzip.compress(c.finish(), compresslevel=1))
    os.replace(tmp, out_path)
    return [n for n, _ in mods]


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    print(" ".join(build(*sys.argv[1:])))

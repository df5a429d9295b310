#pragma once
// Where to probe Go's crypto/tls in a Go binary: (*Conn).Write past its stack check (the
// instruction after the prologue's conditional jump to morestack: a stack growth re-runs the
// function from its start, and a probe there would fire twice), (*Conn).Read there and at each
// of its RET instructions (found by disassembling with Capstone), and the client and server
// handshakes at entry. File offsets, as uprobes take them. Functions are found in .symtab or,
// in a stripped binary, in Go's own function table (.gopclntab, Go 1.18+ layout).

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace tracegap::tls {

struct GoFunction {
  uint64_t entry = 0;             // file offset of the instruction after the stack check
  std::vector<uint64_t> returns;  // file offsets of its RET instructions (Read)
};

struct GoTlsProbes {
  GoFunction write, read;
  std::vector<uint64_t> handshakes;  // clientHandshake, serverHandshake entries found
};

// Reads the Go binary at `path`; an error names the cause ("stripped: no .symtab", "no
// crypto/tls.(*Conn).Write symbol", "no RET found in ...").
std::variant<GoTlsProbes, std::string> FindGoTlsProbes(const std::string& path);

}  // namespace tracegap::tls

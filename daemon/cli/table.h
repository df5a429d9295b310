#pragma once
// `tracegap processes`: which processes break propagation, worst first, as an aligned table.
// Pure functions of the decoded rows, so the layout is unit-tested without a daemon.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/model.h"

namespace tracegap::cli {

enum class SortKey { kGaps, kGapRatio, kOutbound };

// "gaps", "gap-ratio" or "outbound"; nullopt for anything else.
std::optional<SortKey> ParseSortKey(std::string_view text);

// Worst first. Every key sorts descending and falls back to the others (gaps, gap ratio,
// outbound, in that order), then to ascending pid, so the order is total and stable. Without
// `all`, only processes that made outbound requests are kept: the others cannot drop context.
std::vector<ProcessRow> SelectRows(std::vector<ProcessRow> rows, SortKey key, bool all);

// The table of `rows` in the given order, columns
//   PID COMM WORKLOAD IN IN-CTX% OUT PROPAGATED PASSTHRU DROPPED RESTARTED MANGLED GAP%
// text left-aligned, numbers right-aligned, two spaces apart, no trailing spaces. Percentages
// have one decimal, or are "-" when their denominator is 0; an empty workload is "-".
std::string FormatProcessTable(const std::vector<ProcessRow>& rows);

// `tracegap edges`: without `all`, only edges whose client had context to pass on (the others
// cannot drop it); the daemon's order (worst first) is kept.
std::vector<EdgeRow> SelectEdges(std::vector<EdgeRow> edges, bool all);

// The edges in the given order, columns
//   CLIENT SERVER PROTO OUT PROPAGATED PASSTHRU DROPPED RESTARTED MANGLED GAP%
// laid out like FormatProcessTable, each edge with a gap followed by an indented line with its
// newest gap: "  last gap: TIME OUTCOME METHOD AUTHORITYPATH -> PEER (inbound trace ID)".
std::string FormatEdgeTable(const std::vector<EdgeRow>& edges);

// "12.5" for 1/8; "-" when den is 0.
std::string Percent(uint64_t num, uint64_t den);
std::string PercentOfRatio(double ratio);  // 0.125 -> "12.5"

// Process names, units, paths and the daemon's messages come from other users' processes and
// the network: control characters (C0, DEL, C1) are shown as '?' so that nothing printed can
// drive the terminal.
std::string SanitizeForTerminal(std::string_view s);

// Columns a UTF-8 string occupies, counting one per code point (good enough for names).
size_t DisplayWidth(std::string_view s);

}  // namespace tracegap::cli

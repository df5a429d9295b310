#include "cli/table.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <tuple>

namespace tracegap::cli {
namespace {

// Compares the ratios gaps/with_context (0 without context) exactly, as fractions: the daemon's
// gap_ratio is rounded, so processes with different ratios could tie on it.
int CompareRatio(const ProcessRow& a, const ProcessRow& b) {
  using u128 = unsigned __int128;
  const uint64_t da = a.with_context();
  const uint64_t db = b.with_context();
  const u128 l = da == 0 ? 0 : static_cast<u128>(a.gaps) * (db == 0 ? 1 : db);
  const u128 r = db == 0 ? 0 : static_cast<u128>(b.gaps) * (da == 0 ? 1 : da);
  return l < r ? -1 : (l > r ? 1 : 0);
}

template <typename T>
int Compare(T a, T b) {
  return a < b ? -1 : (a > b ? 1 : 0);
}

// Negative when `a` is worse (sorts first).
int Worse(const ProcessRow& a, const ProcessRow& b, SortKey key) {
  const int gaps = Compare(b.gaps, a.gaps);
  const int ratio = CompareRatio(b, a);
  const int out = Compare(b.outbound_total(), a.outbound_total());
  std::array<int, 3> order{};
  switch (key) {
    case SortKey::kGaps:
      order = {gaps, ratio, out};
      break;
    case SortKey::kGapRatio:
      order = {ratio, gaps, out};
      break;
    case SortKey::kOutbound:
      order = {out, gaps, ratio};
      break;
  }
  for (int c : order) {
    if (c != 0) return c;
  }
  return Compare(a.pid, b.pid);
}

std::string Num(uint64_t v) { return std::to_string(v); }

}  // namespace

std::optional<SortKey> ParseSortKey(std::string_view text) {
  if (text == "gaps") return SortKey::kGaps;
  if (text == "gap-ratio") return SortKey::kGapRatio;
  if (text == "outbound") return SortKey::kOutbound;
  return std::nullopt;
}

std::vector<ProcessRow> SelectRows(std::vector<ProcessRow> rows, SortKey key, bool all) {
  if (!all) std::erase_if(rows, [](const ProcessRow& r) { return r.outbound_total() == 0; });
  std::sort(rows.begin(), rows.end(),
            [key](const ProcessRow& a, const ProcessRow& b) { return Worse(a, b, key) < 0; });
  return rows;
}

std::string PercentOfRatio(double ratio) {
  if (!std::isfinite(ratio)) return "-";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), ratio * 100, std::chars_format::fixed, 1);
  return ec == std::errc() ? std::string(buf, end) : "-";
}

std::string Percent(uint64_t num, uint64_t den) {
  if (den == 0) return "-";
  return PercentOfRatio(static_cast<double>(num) / static_cast<double>(den));
}

std::string SanitizeForTerminal(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      out.push_back('?');
    } else if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      out.push_back('?');  // U+0080..U+009F: C1 controls, e.g. CSI
      ++i;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

size_t DisplayWidth(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;  // not a continuation byte
  }));
}

namespace {

struct Column {
  std::string_view title;
  bool left;
};

// Aligned columns: text left-aligned, numbers right-aligned, two spaces apart, no trailing
// spaces. `after[i]`, when given and not empty, is printed after row i as it is.
template <size_t N>
std::string Layout(const std::array<Column, N>& columns,
                   const std::vector<std::array<std::string, N>>& cells,
                   const std::vector<std::string>* after = nullptr) {
  std::array<size_t, N> width{};
  for (size_t c = 0; c < N; ++c) {
    width[c] = columns[c].title.size();
    for (const auto& row : cells) width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  std::string out;
  auto emit = [&](size_t c, std::string_view text) {
    if (c > 0) out += "  ";
    const std::string pad(width[c] - DisplayWidth(text), ' ');
    if (columns[c].left) {
      out += text;
      if (c + 1 < N) out += pad;
    } else {
      out += pad;
      out += text;
    }
  };
  for (size_t c = 0; c < N; ++c) emit(c, columns[c].title);
  out += '\n';
  for (size_t r = 0; r < cells.size(); ++r) {
    for (size_t c = 0; c < N; ++c) emit(c, cells[r][c]);
    out += '\n';
    if (after && r < after->size()) out += (*after)[r];
  }
  return out;
}

}  // namespace

std::string FormatProcessTable(const std::vector<ProcessRow>& rows) {
  // clang-format off
  static constexpr std::array<Column, 12> kColumns = {{
      {"PID", false}, {"COMM", true}, {"WORKLOAD", true}, {"IN", false}, {"IN-CTX%", false},
      {"OUT", false}, {"PROPAGATED", false}, {"PASSTHRU", false}, {"DROPPED", false},
      {"RESTARTED", false}, {"MANGLED", false}, {"GAP%", false},
  }};
  // clang-format on
  std::vector<std::array<std::string, kColumns.size()>> cells;
  cells.reserve(rows.size());
  for (const ProcessRow& r : rows) {
    cells.push_back({
        Num(r.pid),
        SanitizeForTerminal(r.comm),
        r.workload.empty() ? "-" : SanitizeForTerminal(r.workload),
        Num(r.inbound_total()),
        Percent(r.inbound_valid(), r.inbound_total()),
        Num(r.outbound_total()),
        Num(r.count(Outcome::kPropagated)),
        Num(r.count(Outcome::kPassthrough)),
        Num(r.count(Outcome::kDropped)),
        Num(r.count(Outcome::kRestarted)),
        Num(r.count(Outcome::kMangled)),
        r.with_context() == 0 ? "-" : PercentOfRatio(r.gap_ratio),
    });
  }
  return Layout(kColumns, cells);
}

std::vector<EdgeRow> SelectEdges(std::vector<EdgeRow> edges, bool all) {
  if (!all) std::erase_if(edges, [](const EdgeRow& e) { return e.with_context() == 0; });
  return edges;
}

std::string FormatEdgeTable(const std::vector<EdgeRow>& edges) {
  // clang-format off
  static constexpr std::array<Column, 10> kColumns = {{
      {"CLIENT", true}, {"SERVER", true}, {"PROTO", true}, {"OUT", false},
      {"PROPAGATED", false}, {"PASSTHRU", false}, {"DROPPED", false}, {"RESTARTED", false},
      {"MANGLED", false}, {"GAP%", false},
  }};
  // clang-format on
  std::vector<std::array<std::string, kColumns.size()>> cells;
  std::vector<std::string> after;
  cells.reserve(edges.size());
  for (const EdgeRow& e : edges) {
    cells.push_back({
        SanitizeForTerminal(e.client),
        SanitizeForTerminal(e.server),
        SanitizeForTerminal(e.protocol),
        Num(e.requests),
        Num(e.count(Outcome::kPropagated)),
        Num(e.count(Outcome::kPassthrough)),
        Num(e.count(Outcome::kDropped)),
        Num(e.count(Outcome::kRestarted)),
        Num(e.count(Outcome::kMangled)),
        e.with_context() == 0 ? "-" : PercentOfRatio(e.gap_ratio),
    });
    std::string line;
    if (e.last_gap) {
      const ExampleRow& g = *e.last_gap;
      line = "  last gap: " + SanitizeForTerminal(g.time) + " " + SanitizeForTerminal(g.outcome) +
             " " + SanitizeForTerminal(g.method) + " " + SanitizeForTerminal(g.authority) +
             SanitizeForTerminal(g.path) + " -> " +
             (g.peer.empty() ? std::string("?") : SanitizeForTerminal(g.peer)) +
             (g.tls ? " over TLS" : "");
      if (!g.inbound_trace_ids.empty())
        line += " (inbound trace " + SanitizeForTerminal(g.inbound_trace_ids.front()) + ")";
      line += "\n";
    }
    after.push_back(std::move(line));
  }
  return Layout(kColumns, cells, &after);
}

}  // namespace tracegap::cli

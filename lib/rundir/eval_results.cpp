#include "rundir/eval_results.hpp"

#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/text.hpp"

namespace cxr::rundir {
namespace {

// A metric for the reducer to average: a number, and finite.
double metric(const std::string& text, const std::string& where) {
  const auto v = parse_double(text);
  if (!v) throw InputError(where + ": '" + text + "' is not a number");
  if (!std::isfinite(*v)) throw InputError(where + ": value " + text + " is not finite (NaN or inf); refusing to average it");
  return *v;
}

std::int64_t patient(const std::string& text, const std::string& where) {
  const auto v = parse_integer(text);
  if (!v) throw InputError(where + ": patient '" + text + "' is not an integer");
  return *v;
}

EvalRow parse_row(const std::vector<std::string>& f, const std::string& where) {
  EvalRow row{f[0], patient(f[1], where), f[2], f[3], metric(f[4], where), f[5], metric(f[6], where), metric(f[7], where),
              metric(f[8], where), {}};
  if (!f[9].empty()) row.lpips = metric(f[9], where);
  return row;
}

std::int64_t integer(const std::string& text, const std::string& what, const std::string& where) {
  const auto v = parse_integer(text);
  if (!v || *v < 0) throw InputError(where + ": " + what + " '" + text + "' is not a non-negative integer");
  return *v;
}

// The lines after the header, split into `fields` fields each; `parse` turns one into a row.
template <class Row, class Parse>
std::vector<Row> parse_csv(const std::string& text, const std::string& source, const char* header, std::size_t fields_per_row,
                           Parse parse) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != header) throw InputError(at_line(source, 1, std::string("expected the header '") + header + "'"));
  std::vector<Row> rows;
  for (long no = 2; std::getline(in, line); ++no) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    try {
      fields = split_csv_line(line);
    } catch (const std::exception& e) {
      throw InputError(at_line(source, no, e.what()));
    }
    if (fields.size() != fields_per_row)
      throw InputError(at_line(source, no, fmt::format("expected {} fields, found {}", fields_per_row, fields.size())));
    rows.push_back(parse(fields, source + ":" + std::to_string(no)));
  }
  return rows;
}

MatchRow parse_match_row(const std::vector<std::string>& f, const std::string& where) {
  const MatchRow row{f[0], patient(f[1], where), metric(f[2], where), f[3], integer(f[4], "own_rank", where),
                     integer(f[5], "gallery", where), integer(f[6], "followup_rank", where), integer(f[7], "followup_same", where)};
  if (row.query != "clean" && row.query != "obfuscated" && row.query != "denoised")
    throw InputError(where + ": query '" + row.query + "' is not clean, obfuscated or denoised");
  if (row.own_rank < 1 || row.own_rank > row.gallery || row.followup_rank >= row.gallery)
    throw InputError(where + ": ranks out of range for a gallery of " + f[5]);
  if ((row.followup_same > 0) != (row.followup_rank > 0) || row.followup_same >= row.gallery)
    throw InputError(where + ": followup_rank " + f[6] + " does not fit followup_same " + f[7]);
  if ((row.query == "clean") != (row.sigma == 0)) throw InputError(where + ": a clean query is at sigma 0, and only a clean one");
  return row;
}

}  // namespace

std::string to_csv(const std::vector<EvalRow>& rows) {
  std::string csv = std::string(kEvalHeader) + "\n";
  for (const auto& r : rows)
    csv += fmt::format("{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{}\n", csv_quote(r.image), r.patient, csv_quote(r.labels),
                       csv_quote(r.view), r.sigma, csv_quote(r.method), r.psnr, r.ssim, r.ssim_3x3,
                       r.lpips ? fmt::format("{:.6f}", *r.lpips) : std::string());
  return csv;
}

std::vector<EvalRow> parse_eval_results(const std::string& text, const std::string& source) {
  return parse_csv<EvalRow>(text, source, kEvalHeader, 10, parse_row);
}

std::string to_csv(const std::vector<MatchRow>& rows) {
  std::string csv = std::string(kMatchHeader) + "\n";
  for (const auto& r : rows)
    csv += fmt::format("{},{},{},{},{},{},{},{}\n", csv_quote(r.image), r.patient, r.sigma, csv_quote(r.query), r.own_rank, r.gallery,
                       r.followup_rank, r.followup_same);
  return csv;
}

std::vector<MatchRow> parse_match_results(const std::string& text, const std::string& source) {
  return parse_csv<MatchRow>(text, source, kMatchHeader, 8, parse_match_row);
}

std::string to_json_text(const EvalMeta& meta) { return nlohmann::json(meta).dump(2) + "\n"; }

EvalMeta parse_eval_meta(const std::string& text, const std::string& source) {
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    if (j.is_object() && !j.contains("match_gallery")) j["match_gallery"] = 0;  // written before the privacy report: no match files
    return j.get<EvalMeta>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source + ": not the meta.json cxr-eval writes: " + e.what());
  }
}

std::filesystem::path eval_results_path(const std::string& out_dir, int rank) {
  return std::filesystem::path(out_dir) / "eval" / fmt::format("rank-{:05d}.csv", rank);
}

std::filesystem::path match_results_path(const std::string& out_dir, int rank) {
  return std::filesystem::path(out_dir) / "eval" / fmt::format("match-{:05d}.csv", rank);
}

std::filesystem::path eval_meta_path(const std::string& out_dir) { return std::filesystem::path(out_dir) / "eval" / "meta.json"; }

}  // namespace cxr::rundir

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

EvalRow parse_row(const std::vector<std::string>& f, const std::string& where) {
  EvalRow row{f[0], 0, f[2], f[3], metric(f[4], where), f[5], metric(f[6], where), metric(f[7], where), metric(f[8], where), {}};
  const auto patient = parse_integer(f[1]);
  if (!patient) throw InputError(where + ": patient '" + f[1] + "' is not an integer");
  row.patient = *patient;
  if (!f[9].empty()) row.lpips = metric(f[9], where);
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
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kEvalHeader)
    throw InputError(at_line(source, 1, std::string("expected the header '") + kEvalHeader + "'"));
  std::vector<EvalRow> rows;
  for (long no = 2; std::getline(in, line); ++no) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    try {
      fields = split_csv_line(line);
    } catch (const std::exception& e) {
      throw InputError(at_line(source, no, e.what()));
    }
    if (fields.size() != 10) throw InputError(at_line(source, no, "expected 10 fields, found " + std::to_string(fields.size())));
    rows.push_back(parse_row(fields, source + ":" + std::to_string(no)));
  }
  return rows;
}

std::string to_json_text(const EvalMeta& meta) { return nlohmann::json(meta).dump(2) + "\n"; }

EvalMeta parse_eval_meta(const std::string& text, const std::string& source) {
  try {
    return nlohmann::json::parse(text).get<EvalMeta>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source + ": not the meta.json cxr-eval writes: " + e.what());
  }
}

std::filesystem::path eval_results_path(const std::string& out_dir, int rank) {
  return std::filesystem::path(out_dir) / "eval" / fmt::format("rank-{:05d}.csv", rank);
}

std::filesystem::path eval_meta_path(const std::string& out_dir) { return std::filesystem::path(out_dir) / "eval" / "meta.json"; }

}  // namespace cxr::rundir

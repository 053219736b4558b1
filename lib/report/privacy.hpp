#pragma once
// The privacy section of a summary (docs/PRIVACY.md), per noise sigma:
//   the noise in plain words   the obfuscated image's PSNR and RMS error against the clean one
//   de-obfuscation             what each run's model recovers (PSNR / SSIM against the clean
//                              image), and whether it trained on clean or only noisy targets
//   re-identification          top-1 / top-5 match rates of clean, obfuscated and denoised
//                              queries (cxr-eval's match-NNNNN.csv) against (a) a gallery of clean
//                              images holding the query's original and (b) a gallery of the other
//                              studies of all patients, with 95 % CIs and the chance rates
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/reduce.hpp"

namespace cxr::report {

// summary["privacy"]: {"deobfuscation": [...], "reidentification": [...]}; empty lists when no
// run has match results.
void add_privacy(const std::vector<Run>& runs, const Groups& groups, nlohmann::json& summary);
std::string privacy_markdown(const nlohmann::json& summary);
// gnuplot data (privacy.dat) and the script lines that plot it into privacy.png; both empty
// when there is nothing to plot.
std::pair<std::string, std::string> privacy_plot(const nlohmann::json& summary);

}  // namespace cxr::report

#pragma once
// What cxr-eval leaves in its output folder (the run directory, or --out) for cxr-reduce:
//   eval/rank-NNNNN.csv  one row per (image, sigma, method), written by rank N
//   eval/match-NNNNN.csv the privacy report's re-identification ranks (lib/privacy), rank N's queries
//   eval/meta.json       what was evaluated: the reducer's completeness and comparability checks
// This module is the one reader and writer of all three.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cxr::rundir {

inline const char* const kEvalHeader = "image,patient,labels,view,sigma,method,psnr,ssim,ssim_3x3,lpips";

struct EvalRow {
  std::string image;
  std::int64_t patient = 0;
  std::string labels;  // "Atelectasis|Effusion" or "No Finding"
  std::string view;    // "PA" or "AP"
  double sigma = 0;
  std::string method;  // model, noisy, gaussian or median
  double psnr = 0, ssim = 0, ssim_3x3 = 0;
  std::optional<double> lpips;  // an empty field where LPIPS is unavailable, never a number
};

std::string to_csv(const std::vector<EvalRow>& rows);  // the header, then one line a row
// `source` (the file's path) names the file in errors: InputError "source:line: ..." for a wrong
// header or field count, and for a value that is not a number or not finite.
std::vector<EvalRow> parse_eval_results(const std::string& text, const std::string& source);

inline const char* const kMatchHeader = "image,patient,sigma,query,own_rank,gallery,followup_rank,followup_same";

// One query of the re-identification attack (privacy::match): the image as the attacker holds
// it (clean at sigma 0, obfuscated, or denoised by the run's model), matched against a gallery of
// every clean image of the split.
struct MatchRow {
  std::string image;
  std::int64_t patient = 0;
  double sigma = 0;
  std::string query;               // clean | obfuscated | denoised
  std::int64_t own_rank = 0;       // (a) the rank of the query's own original among `gallery` images
  std::int64_t gallery = 0;
  std::int64_t followup_rank = 0;  // (b) the best rank of another study of the patient; 0: it has none
  std::int64_t followup_same = 0;  // (b) how many of the other gallery images are the patient's other studies
};

std::string to_csv(const std::vector<MatchRow>& rows);
std::vector<MatchRow> parse_match_results(const std::string& text, const std::string& source);  // InputError "source:line: ..."

struct TunedBaseline {  // chosen per sigma on validation images, by the lowest L1
  double sigma = 0;
  double gaussian_blur_sigma = 1.0;
  int median_kernel = 3;
};

struct EvalMeta {
  int ranks = 1;  // one rank-NNNNN.csv each
  std::string checkpoint;
  std::int64_t global_step = 0;
  std::string model;  // the checkpoint's model signature
  std::string split;
  std::size_t images = 0;
  std::string test_set_sha256;  // of the image names: runs with equal hashes are compared image by image
  std::vector<double> sigmas;
  std::vector<std::string> methods;
  double noise_mean = 0;
  std::uint64_t noise_seed = 0;
  std::vector<TunedBaseline> baselines;  // empty when neither filter was evaluated
  std::string lpips;                     // what computed LPIPS, or why it is unavailable
  std::string data_dir;
  std::int64_t match_gallery = 0;  // the re-identification gallery's size; 0: no match-NNNNN.csv files
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(TunedBaseline, sigma, gaussian_blur_sigma, median_kernel)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(EvalMeta, ranks, checkpoint, global_step, model, split, images, test_set_sha256, sigmas,
                                   methods, noise_mean, noise_seed, baselines, lpips, data_dir, match_gallery)

std::string to_json_text(const EvalMeta& meta);
EvalMeta parse_eval_meta(const std::string& text, const std::string& source);  // InputError naming `source`

std::filesystem::path eval_results_path(const std::string& out_dir, int rank);
std::filesystem::path match_results_path(const std::string& out_dir, int rank);
std::filesystem::path eval_meta_path(const std::string& out_dir);

}  // namespace cxr::rundir

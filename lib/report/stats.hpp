#pragma once
// Statistics for the reducer: summaries with 95 % confidence intervals and paired comparisons
// (paired t-test and Wilcoxon signed-rank test, with effect sizes).
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace cxr::report {

struct Summary {
  std::size_t n = 0;
  double mean = 0, sd = 0;  // sample standard deviation (n - 1)
  double ci95 = 0;          // half-width: 1.96 sd / sqrt(n), as the reference reported it
};
Summary summarize(const std::vector<double>& values);

// Images of one patient are not independent (follow-ups, near-identical views): the summary
// of values[i] from patient patients[i] keeps the mean over images, but its 95 % interval comes
// from a patient-level (cluster) bootstrap: 2,000 resamples of the patients with replacement,
// the percentile interval of the image mean, ci95 = its half-width. With fewer than 2 patients
// it falls back to the image-level interval. Deterministic (keyed random numbers).
Summary summarize_by_patient(const std::vector<double>& values, const std::vector<std::int64_t>& patients);

// The per-patient means of values (in patient order) and of a paired second series: what
// paired tests compare when patients, not images, are the independent units.
std::pair<std::vector<double>, std::vector<double>> patient_means(const std::vector<double>& a, const std::vector<double>& b,
                                                                  const std::vector<std::int64_t>& patients);

// A 95 % Wilson score interval (lower, upper) for a rate p measured on n independent units:
// unlike p +- 1.96 sqrt(p(1-p)/n) it stays inside [0, 1] and is not empty at p = 0 or 1.
std::pair<double, double> wilson_interval(double p, double n);

// The chance that a matcher ranking a gallery of `gallery` images at random puts at least one of
// `hits` of them in its top k: 1 - C(gallery - hits, k) / C(gallery, k).
double chance_top_k(std::int64_t gallery, std::int64_t hits, std::int64_t k);

struct Paired {
  std::size_t n = 0;
  double mean_diff = 0;       // mean of a - b
  double t = 0, t_p = 1;      // paired t-test, two-sided
  double cohens_dz = 0;       // mean_diff / sd(diff)
  double wilcoxon_z = 0, wilcoxon_p = 1;  // signed-rank test, normal approximation with tie correction
  double wilcoxon_r = 0;      // effect size z / sqrt(n)
};
// a[i] and b[i] belong to the same image. Throws std::invalid_argument for unequal lengths.
Paired compare_paired(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace cxr::report

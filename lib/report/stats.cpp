#include "report/stats.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "random/keyed.hpp"

namespace cxr::report {

Summary summarize(const std::vector<double>& v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(s.n);
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.sd = s.n > 1 ? std::sqrt(ss / static_cast<double>(s.n - 1)) : 0.0;
  s.ci95 = 1.96 * s.sd / std::sqrt(static_cast<double>(s.n));
  return s;
}

Summary summarize_by_patient(const std::vector<double>& v, const std::vector<std::int64_t>& patients) {
  if (v.size() != patients.size()) throw std::invalid_argument("one patient per value expected");
  Summary s = summarize(v);
  std::map<std::int64_t, std::pair<double, double>> per;  // patient -> (sum, count)
  for (std::size_t i = 0; i < v.size(); ++i) per[patients[i]].first += v[i], per[patients[i]].second += 1;
  if (per.size() < 2) return s;
  std::vector<std::pair<double, double>> clusters;
  for (const auto& kv : per) clusters.push_back(kv.second);
  constexpr int kResamples = 2000;
  rng::KeyedStream draw(0, rng::Purpose::Bootstrap, clusters.size(), v.size());
  std::vector<double> means(kResamples);
  for (auto& m : means) {
    double sum = 0, count = 0;
    for (std::size_t k = 0; k < clusters.size(); ++k) {
      const auto& c = clusters[draw.below(clusters.size())];
      sum += c.first, count += c.second;
    }
    m = sum / count;
  }
  std::sort(means.begin(), means.end());
  s.ci95 = (means[static_cast<std::size_t>(0.975 * (kResamples - 1))] - means[static_cast<std::size_t>(0.025 * (kResamples - 1))]) / 2;
  return s;
}

std::pair<double, double> wilson_interval(double p, double n) {
  if (n <= 0) return {0.0, 1.0};
  const double z2 = 1.96 * 1.96, centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = 1.96 / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double chance_top_k(std::int64_t gallery, std::int64_t hits, std::int64_t k) {
  double miss = 1;  // the chance that none of the hits is among the first k drawn
  for (std::int64_t i = 0; i < std::min(k, gallery); ++i)
    miss *= static_cast<double>(std::max<std::int64_t>(0, gallery - hits - i)) / static_cast<double>(gallery - i);
  return 1 - miss;
}

std::pair<std::vector<double>, std::vector<double>> patient_means(const std::vector<double>& a, const std::vector<double>& b,
                                                                  const std::vector<std::int64_t>& patients) {
  std::map<std::int64_t, std::array<double, 3>> per;  // patient -> (sum a, sum b, count)
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto& p = per[patients.at(i)];
    p[0] += a[i], p[1] += b.at(i), p[2] += 1;
  }
  std::pair<std::vector<double>, std::vector<double>> out;
  for (const auto& [patient, p] : per) out.first.push_back(p[0] / p[2]), out.second.push_back(p[1] / p[2]);
  return out;
}

Paired compare_paired(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("paired comparison of unequal lengths");
  Paired p;
  p.n = a.size();
  if (p.n < 2) return p;
  std::vector<double> d(p.n);
  for (std::size_t i = 0; i < p.n; ++i) d[i] = a[i] - b[i];
  const Summary s = summarize(d);
  p.mean_diff = s.mean;
  if (s.sd > 0) {
    p.cohens_dz = s.mean / s.sd;
    p.t = s.mean / (s.sd / std::sqrt(static_cast<double>(p.n)));
    const boost::math::students_t dist(static_cast<double>(p.n - 1));
    p.t_p = 2 * boost::math::cdf(boost::math::complement(dist, std::fabs(p.t)));
  } else {
    p.t_p = s.mean == 0 ? 1.0 : 0.0;
  }
  // Wilcoxon signed-rank: zero differences dropped, average ranks for ties. The ranks are
  // multiples of 1/2, so w_plus sums them exactly in any order.
  std::vector<double> nz;
  for (double x : d)
    if (x != 0) nz.push_back(x);
  std::sort(nz.begin(), nz.end(), [](double x, double y) { return std::fabs(x) < std::fabs(y); });
  const std::size_t n = nz.size();
  double w_plus = 0, tie_term = 0;
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i;
    while (j + 1 < n && std::fabs(nz[j + 1]) == std::fabs(nz[i])) ++j;
    const double r = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    const double t = static_cast<double>(j - i + 1);
    tie_term += t * t * t - t;
    for (std::size_t k = i; k <= j; ++k)
      if (nz[k] > 0) w_plus += r;
    i = j + 1;
  }
  const double nn = static_cast<double>(n);
  const double mean = nn * (nn + 1) / 4.0;
  const double var = nn * (nn + 1) * (2 * nn + 1) / 24.0 - tie_term / 48.0;
  if (var > 0) {  // also false without any nonzero difference
    p.wilcoxon_z = (w_plus - mean) / std::sqrt(var);
    p.wilcoxon_p = std::erfc(std::fabs(p.wilcoxon_z) / std::sqrt(2.0));
    p.wilcoxon_r = p.wilcoxon_z / std::sqrt(nn);
  }
  return p;
}

}  // namespace cxr::report

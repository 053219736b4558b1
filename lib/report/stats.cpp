#include "report/stats.hpp"

#include <algorithm>
#include <boost/math/distributions/students_t.hpp>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace cxr::report {

Summary summarize(const std::vector<double>& v) {
  Summary s;
  s.n = v.size();
  if (v.empty()) return s;
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(s.n);
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.sd = s.n > 1 ? std::sqrt(ss / static_cast<double>(s.n - 1)) : 0.0;
  s.ci95 = s.n > 0 ? 1.96 * s.sd / std::sqrt(static_cast<double>(s.n)) : 0.0;
  return s;
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
  // Wilcoxon signed-rank: zero differences dropped, average ranks for ties.
  std::vector<double> nz;
  for (double x : d)
    if (x != 0) nz.push_back(x);
  const std::size_t n = nz.size();
  if (n > 0) {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return std::fabs(nz[i]) < std::fabs(nz[j]); });
    std::vector<double> rank(n);
    double tie_term = 0;
    for (std::size_t i = 0; i < n;) {
      std::size_t j = i;
      while (j + 1 < n && std::fabs(nz[order[j + 1]]) == std::fabs(nz[order[i]])) ++j;
      const double r = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
      const double t = static_cast<double>(j - i + 1);
      tie_term += t * t * t - t;
      for (std::size_t k = i; k <= j; ++k) rank[order[k]] = r;
      i = j + 1;
    }
    double w_plus = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (nz[i] > 0) w_plus += rank[i];
    const double nn = static_cast<double>(n);
    const double mean = nn * (nn + 1) / 4.0;
    const double var = nn * (nn + 1) * (2 * nn + 1) / 24.0 - tie_term / 48.0;
    if (var > 0) {
      p.wilcoxon_z = (w_plus - mean) / std::sqrt(var);
      p.wilcoxon_p = std::erfc(std::fabs(p.wilcoxon_z) / std::sqrt(2.0));
      p.wilcoxon_r = p.wilcoxon_z / std::sqrt(nn);
    }
  }
  return p;
}

}  // namespace cxr::report

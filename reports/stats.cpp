#include "reports/stats.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace questbench {
namespace {

double log_choose(int64_t n, int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}

// Quantile of sorted values by linear interpolation between order statistics (Hyndman & Fan type 7).
double sorted_quantile(const std::vector<double>& sorted, double q) {
  const double h = (static_cast<double>(sorted.size()) - 1) * q;
  const size_t i = static_cast<size_t>(std::floor(h));
  if (i + 1 >= sorted.size()) return sorted.back();
  return sorted[i] + (h - static_cast<double>(i)) * (sorted[i + 1] - sorted[i]);
}

Interval percentile_interval(std::vector<double> values, double level) {
  std::sort(values.begin(), values.end());
  return {sorted_quantile(values, (1 - level) / 2), sorted_quantile(values, (1 + level) / 2)};
}

void check_bootstrap_args(int resamples, double level) {
  QB_CHECK(resamples >= 10, "bootstrap needs at least 10 resamples, got " << resamples);
  QB_CHECK(level > 0 && level < 1, "confidence level must be in (0, 1), got " << level);
}

}  // namespace

StatsRng::StatsRng(uint64_t seed) : state_(seed) {}

uint64_t StatsRng::next() { return state_.next_star_star(); }

double StatsRng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t StatsRng::below(uint64_t bound) {
  // Rejection on the top of the range keeps every value equally likely.
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % bound;
  uint64_t x;
  do {
    x = next();
  } while (x >= limit);
  return x % bound;
}



int64_t sample_binomial(int64_t n, double p, StatsRng& rng) {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  const int64_t mode = std::min(n, static_cast<int64_t>(std::floor((n + 1) * p)));
  const double ratio = p / (1 - p);
  const double f_mode = std::exp(log_choose(n, mode) + mode * std::log(p) + (n - mode) * std::log1p(-p));
  // Outcomes in the order mode, mode+1, mode-1, mode+2, mode-2, ...: any fixed order of the outcomes gives
  // an exact sampler; starting at the mode makes the expected walk O(standard deviation).
  double u = rng.uniform() - f_mode;
  if (u < 0) return mode;
  int64_t up = mode, down = mode;
  double f_up = f_mode, f_down = f_mode;
  while (up < n || down > 0) {
    if (up < n) {
      f_up *= static_cast<double>(n - up) / static_cast<double>(up + 1) * ratio;
      ++up;
      u -= f_up;
      if (u < 0) return up;
    }
    if (down > 0) {
      f_down *= static_cast<double>(down) / static_cast<double>(n - down + 1) / ratio;
      --down;
      u -= f_down;
      if (u < 0) return down;
    }
  }
  return mode;  // rounding left u >= 0 after all outcomes (probability ~1e-15): the most likely value
}

Discordance discordance(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  QB_CHECK(a.size() == b.size(), "paired samples differ in length (" << a.size() << " vs " << b.size() << ")");
  Discordance d;
  d.n = static_cast<int64_t>(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] && !b[i]) ++d.a_only;
    if (!a[i] && b[i]) ++d.b_only;
  }
  return d;
}

double mcnemar_exact_p(int64_t b, int64_t c) {
  QB_CHECK(b >= 0 && c >= 0, "McNemar: negative counts");
  const int64_t n = b + c, k = std::min(b, c);
  if (n == 0) return 1.0;
  // P(X <= k) for X ~ Bin(n, 1/2): terms summed from the largest (i = k, since k <= n/2) downwards.
  double term = std::exp(log_choose(n, k) - static_cast<double>(n) * std::log(2.0));
  double sum = 0;
  for (int64_t i = k; i >= 0; --i) {
    sum += term;
    term *= static_cast<double>(i) / static_cast<double>(n - i + 1);
    if (term < sum * 1e-17) break;
  }
  return std::min(1.0, 2 * sum);
}

Interval paired_bootstrap_ci(const Discordance& d, int resamples, uint64_t seed, double level) {
  check_bootstrap_args(resamples, level);
  if (d.n == 0) return {std::nan(""), std::nan("")};
  StatsRng rng(seed);
  const double p_plus = static_cast<double>(d.b_only) / d.n;
  const double p_minus_rest = d.b_only == d.n ? 0.0 : static_cast<double>(d.a_only) / (d.n - d.b_only);
  std::vector<double> diffs(static_cast<size_t>(resamples));
  for (auto& diff : diffs) {
    const int64_t plus = sample_binomial(d.n, p_plus, rng);
    const int64_t minus = sample_binomial(d.n - plus, p_minus_rest, rng);
    diff = static_cast<double>(plus - minus) / d.n;
  }
  return percentile_interval(std::move(diffs), level);
}

Interval bootstrap_mean_ci(const std::vector<double>& values, int resamples, uint64_t seed, double level) {
  check_bootstrap_args(resamples, level);
  if (values.empty()) return {std::nan(""), std::nan("")};
  StatsRng rng(seed);
  const uint64_t n = values.size();
  std::vector<double> means(static_cast<size_t>(resamples));
  for (auto& mean : means) {
    double sum = 0;
    for (uint64_t i = 0; i < n; ++i) sum += values[rng.below(n)];
    mean = sum / static_cast<double>(n);
  }
  return percentile_interval(std::move(means), level);
}

double normal_quantile(double p) {
  QB_CHECK(p > 0 && p < 1, "normal quantile of " << p);
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-15; ++i) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

Interval wilson_interval(int64_t k, int64_t n, double level) {
  if (n <= 0) return {std::nan(""), std::nan("")};
  const double z = normal_quantile((1 + level) / 2), z2 = z * z;
  const double p = static_cast<double>(k) / n;
  const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

Interval newcombe_interval(int64_t k1, int64_t n1, int64_t k2, int64_t n2, double level) {
  if (n1 <= 0 || n2 <= 0) return {std::nan(""), std::nan("")};
  const double p1 = static_cast<double>(k1) / n1, p2 = static_cast<double>(k2) / n2;
  const Interval w1 = wilson_interval(k1, n1, level), w2 = wilson_interval(k2, n2, level);
  const double d = p1 - p2;
  return {d - std::sqrt((p1 - w1.lo) * (p1 - w1.lo) + (w2.hi - p2) * (w2.hi - p2)),
          d + std::sqrt((w1.hi - p1) * (w1.hi - p1) + (p2 - w2.lo) * (p2 - w2.lo))};
}

double two_proportion_p(int64_t k1, int64_t n1, int64_t k2, int64_t n2) {
  if (n1 <= 0 || n2 <= 0) return 1.0;
  const double pooled = static_cast<double>(k1 + k2) / (n1 + n2);
  const double se = std::sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2));
  if (se == 0) return 1.0;
  const double z = (static_cast<double>(k1) / n1 - static_cast<double>(k2) / n2) / se;
  return std::erfc(std::fabs(z) / std::sqrt(2.0));
}

std::vector<double> holm_adjust(const std::vector<double>& p) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(p.size(), std::nan(""));
  const double m = static_cast<double>(order.size());
  double running = 0;
  for (size_t rank = 0; rank < order.size(); ++rank) {
    running = std::max(running, std::min(1.0, (m - static_cast<double>(rank)) * p[order[rank]]));
    adjusted[order[rank]] = running;
  }
  return adjusted;
}

}  // namespace questbench

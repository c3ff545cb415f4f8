// Statistics for comparing two classifiers on per-sample correctness: exact McNemar test, paired
// bootstrap of the accuracy difference, Holm-Bonferroni correction, and unpaired fallbacks (Wilson /
// Newcombe interval, two-proportion z-test). Plain functions on 0/1 vectors; deterministic given a seed.
#pragma once

#include "common/random.h"

#include <cstdint>
#include <string>
#include <vector>

namespace questbench {

// A small deterministic generator (xoshiro256**, seeded through splitmix64): the same numbers on every
// platform and standard library, so a comparison is reproducible from its seed.
class StatsRng {
 public:
  explicit StatsRng(uint64_t seed);
  uint64_t next();
  double uniform();                 // [0, 1), 53 random bits
  uint64_t below(uint64_t bound);   // uniform in [0, bound), bound > 0, unbiased
 private:
  Xoshiro256 state_;
};

// Binomial(n, p) draw (exact: inversion, enumerating outcomes outward from the mode; O(sqrt(n p (1-p)))).
int64_t sample_binomial(int64_t n, double p, StatsRng& rng);

struct Interval {
  double lo = 0, hi = 0;
};

// Discordant pairs of two 0/1 vectors over the same samples, a = baseline, b = other model.
struct Discordance {
  int64_t n = 0;
  int64_t a_only = 0;  // a correct, b wrong
  int64_t b_only = 0;  // a wrong, b correct
};
Discordance discordance(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// Exact two-sided McNemar test: p = min(1, 2 P(X <= min(b, c))), X ~ Binomial(b + c, 1/2); 1 when b + c = 0.
double mcnemar_exact_p(int64_t b, int64_t c);

// Paired percentile bootstrap of acc(b) - acc(a): resamples the n samples with replacement `resamples`
// times and returns the (1-level)/2 and (1+level)/2 quantiles (linear interpolation between order
// statistics). The per-sample difference takes only the values -1, 0, +1, so each resample is drawn as
// its multinomial counts — the same distribution as resampling indices, without touching n samples.
Interval paired_bootstrap_ci(const Discordance& d, int resamples, uint64_t seed, double level = 0.95);

// The plain index-resampling bootstrap of the mean of per-sample values (used for statistics that are
// not a single 0/1 difference, e.g. the mean over all corruption cells, and as a test reference).
Interval bootstrap_mean_ci(const std::vector<double>& values, int resamples, uint64_t seed, double level = 0.95);

// Wilson score interval of k successes in n; Newcombe's hybrid score interval (method 10) of
// k1/n1 - k2/n2 for independent samples.
Interval wilson_interval(int64_t k, int64_t n, double level = 0.95);
Interval newcombe_interval(int64_t k1, int64_t n1, int64_t k2, int64_t n2, double level = 0.95);

// Two-sided pooled two-proportion z-test of k1/n1 vs k2/n2 (independent samples); 1 when undefined.
double two_proportion_p(int64_t k1, int64_t n1, int64_t k2, int64_t n2);

// Holm-Bonferroni step-down adjusted p-values, in the input order (NaN entries are skipped and kept NaN).
std::vector<double> holm_adjust(const std::vector<double>& p);

// Standard normal quantile (bisection on erfc to double precision).
double normal_quantile(double p);

}  // namespace questbench

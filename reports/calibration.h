// Calibration of a classifier's confidence on one cell (clean or corrupted), from per-sample data
// (CalibrationData in reports/report.h) and the cell's correct mask:
//   ECE           Guo et al. 2017: 15 equal-width bins; bin b holds the confidences c with b/15 < c <= (b+1)/15,
//                 bin 0 also c = 0; ECE = sum_b |B_b|/n * |acc(B_b) - conf(B_b)|
//   adaptive ECE  the same sum over 15 equal-mass bins of the confidences sorted ascending (Nixon et al. 2019);
//                 see equal_mass_bins for how n not divisible by 15 and ties are handled
//   NLL           mean -ln p(true class), nats
//   Brier         mean over samples of sum_k (p_k - [k = true class])^2 (the multi-class form, in [0, 2])
// Library code: no LibTorch. The runners compute the per-sample terms from logits (bench/engine.h).
#pragma once

#include "reports/report.h"

#include <cstdint>
#include <vector>

namespace questbench {

inline constexpr int kCalibrationBins = 15;

struct CalibrationBin {
  int64_t count = 0, correct = 0;
  double confidence_sum = 0;
  double accuracy() const { return count ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
  double mean_confidence() const { return count ? confidence_sum / static_cast<double>(count) : 0.0; }
};

struct CalibrationMetrics {
  int64_t n = 0;  // 0: undefined (no samples or no calibration data); every value below is then 0
  double ece = 0, adaptive_ece = 0, nll = 0, brier = 0;
  std::vector<CalibrationBin> bins;  // the 15 equal-width bins: the reliability diagram
};

// The equal-width bin of a confidence in [0, 1]: the b with b/15 < c <= (b+1)/15, 0 for c = 0. The edges are
// the exact rationals b/15: 15 * c is exact in double for a float32 c, so no edge is rounded.
int confidence_bin(float confidence);

// The 15 equal-width bins of the samples (confidence[i], correct[i]).
std::vector<CalibrationBin> equal_width_bins(const std::vector<float>& confidence, const std::vector<uint8_t>& correct);

// The 15 equal-mass bins: the samples sorted by confidence (ascending); sorted position j belongs to the bin b
// with floor(b*n/15) <= j < floor((b+1)*n/15), so bin sizes differ by at most one when n is not divisible by 15
// (and n < 15 leaves bins empty). Samples of equal confidence are never split: a run of ties goes whole into
// the bin of its first sorted position, so the result depends only on the multiset of (confidence, correct)
// pairs, not on the order of the samples. Bins may therefore be empty or larger than ceil(n/15).
std::vector<CalibrationBin> equal_mass_bins(const std::vector<float>& confidence, const std::vector<uint8_t>& correct);

// sum_b |B_b|/n * |acc(B_b) - conf(B_b)|, computed as sum_b |correct_b - confidence_sum_b| / n; 0 when n = 0.
double calibration_error(const std::vector<CalibrationBin>& bins);

// All metrics of one cell. `correct` is the cell's correct mask (parallel to data.confidence). Returns n = 0
// when the cell has no calibration data (old reports) or no samples; throws Error when the sizes differ.
CalibrationMetrics calibration_metrics(const CalibrationData& data, const std::vector<uint8_t>& correct);

// Appends one sample: checks the terms (confidence in [0, 1], NLL and Brier term finite and >= 0, Brier <= 2,
// within rounding) and adds the sums' terms on the exact_sum_term grid. A non-finite NLL term (p(true) = 0
// given as a probability) is refused: the runners compute -ln p(true) from the logits (log-softmax in
// float64), which is finite for finite logits even where p(true) underflows to 0.
void add_calibration_sample(CalibrationData& data, float confidence, double nll, double brier);

// The per-sample terms of one probability vector (sum 1) and its true class, as the runners define them.
struct CalibrationTerms {
  float confidence = 0;
  double nll = 0, brier = 0;
};
CalibrationTerms calibration_terms_from_probabilities(const std::vector<double>& probabilities, int64_t true_class);

// A split run's parts joined in sample order (empty when any part has no data: nothing is made up).
void append_calibration(CalibrationData& to, const CalibrationData& part, bool first_part);

// Reliability-diagram bins pooled over several cells (counts and sums add).
void add_bins(std::vector<CalibrationBin>& to, const std::vector<CalibrationBin>& bins);

}  // namespace questbench

#include "reports/calibration.h"

#include "common/error.h"
#include "common/exact_sum.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace questbench {

int confidence_bin(float confidence) {
  const double scaled = 15.0 * static_cast<double>(confidence);  // exact: 24-bit significand times 15
  const int b = static_cast<int>(std::ceil(scaled)) - 1;
  return std::clamp(b, 0, kCalibrationBins - 1);
}

std::vector<CalibrationBin> equal_width_bins(const std::vector<float>& confidence, const std::vector<uint8_t>& correct) {
  QB_CHECK(confidence.size() == correct.size(),
           "calibration: " << confidence.size() << " confidences for " << correct.size() << " samples");
  std::vector<CalibrationBin> bins(kCalibrationBins);
  for (size_t i = 0; i < confidence.size(); ++i) {
    auto& bin = bins[static_cast<size_t>(confidence_bin(confidence[i]))];
    ++bin.count;
    bin.correct += correct[i] ? 1 : 0;
    bin.confidence_sum += confidence[i];
  }
  return bins;
}

std::vector<CalibrationBin> equal_mass_bins(const std::vector<float>& confidence, const std::vector<uint8_t>& correct) {
  QB_CHECK(confidence.size() == correct.size(),
           "calibration: " << confidence.size() << " confidences for " << correct.size() << " samples");
  const int64_t n = static_cast<int64_t>(confidence.size());
  std::vector<size_t> order(confidence.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Ties ordered by correctness so that the per-bin sums below never depend on the sample order.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (confidence[a] != confidence[b]) return confidence[a] < confidence[b];
    return correct[a] < correct[b];
  });
  std::vector<CalibrationBin> bins(kCalibrationBins);
  int bin = 0, tie_bin = 0;
  for (int64_t j = 0; j < n; ++j) {
    while (bin + 1 < kCalibrationBins && j >= (bin + 1) * n / kCalibrationBins) ++bin;
    const size_t i = order[static_cast<size_t>(j)];
    if (j == 0 || confidence[i] != confidence[order[static_cast<size_t>(j - 1)]]) tie_bin = bin;
    auto& b = bins[static_cast<size_t>(tie_bin)];
    ++b.count;
    b.correct += correct[i] ? 1 : 0;
    b.confidence_sum += confidence[i];
  }
  return bins;
}

double calibration_error(const std::vector<CalibrationBin>& bins) {
  int64_t n = 0;
  double gap = 0;
  for (const auto& b : bins) {
    n += b.count;
    gap += std::fabs(static_cast<double>(b.correct) - b.confidence_sum);
  }
  return n ? gap / static_cast<double>(n) : 0.0;
}

CalibrationMetrics calibration_metrics(const CalibrationData& data, const std::vector<uint8_t>& correct) {
  CalibrationMetrics m;
  if (data.empty()) return m;
  QB_CHECK(data.confidence.size() == correct.size(),
           "calibration: " << data.confidence.size() << " confidences for " << correct.size() << " samples");
  m.n = static_cast<int64_t>(correct.size());
  m.bins = equal_width_bins(data.confidence, correct);
  m.ece = calibration_error(m.bins);
  m.adaptive_ece = calibration_error(equal_mass_bins(data.confidence, correct));
  m.nll = data.nll_sum / static_cast<double>(m.n);
  m.brier = data.brier_sum / static_cast<double>(m.n);
  return m;
}

void add_calibration_sample(CalibrationData& data, float confidence, double nll, double brier) {
  // Rounding slack: the terms come from float64 softmax arithmetic.
  constexpr double kSlack = 1e-9;
  QB_CHECK(std::isfinite(confidence) && confidence >= 0.0f && confidence <= 1.0f,
           "calibration: confidence " << confidence << " of sample " << data.confidence.size() << " is not in [0, 1]");
  QB_CHECK(std::isfinite(nll) && nll >= -kSlack,
           "calibration: NLL term " << nll << " of sample " << data.confidence.size()
                                     << " is not finite and >= 0 (a true-class probability of 0 has no finite NLL)");
  QB_CHECK(std::isfinite(brier) && brier >= -kSlack && brier <= 2 + kSlack,
           "calibration: Brier term " << brier << " of sample " << data.confidence.size() << " is not in [0, 2]");
  data.confidence.push_back(confidence);
  data.nll_sum += exact_sum_term(std::max(nll, 0.0));
  data.brier_sum += exact_sum_term(std::clamp(brier, 0.0, 2.0));
}

CalibrationTerms calibration_terms_from_probabilities(const std::vector<double>& probabilities, int64_t true_class) {
  QB_CHECK(true_class >= 0 && true_class < static_cast<int64_t>(probabilities.size()),
           "calibration: true class " << true_class << " outside the " << probabilities.size() << " probabilities");
  CalibrationTerms t;
  double largest = 0;
  for (size_t k = 0; k < probabilities.size(); ++k) {
    const double p = probabilities[k];
    QB_CHECK(std::isfinite(p) && p >= 0 && p <= 1, "calibration: probability " << p << " of class " << k << " is not in [0, 1]");
    largest = std::max(largest, p);
    const double target = static_cast<int64_t>(k) == true_class ? 1.0 : 0.0;
    t.brier += (p - target) * (p - target);
  }
  t.confidence = static_cast<float>(largest);
  t.nll = -std::log(probabilities[static_cast<size_t>(true_class)]);  // +inf for p = 0: add_calibration_sample refuses it
  return t;
}

void append_calibration(CalibrationData& to, const CalibrationData& part, bool first_part) {
  if (!first_part && to.empty()) return;  // an earlier part had none
  if (part.empty()) {
    to = CalibrationData{};
    return;
  }
  to.confidence.insert(to.confidence.end(), part.confidence.begin(), part.confidence.end());
  to.nll_sum += part.nll_sum;
  to.brier_sum += part.brier_sum;
}

void add_bins(std::vector<CalibrationBin>& to, const std::vector<CalibrationBin>& bins) {
  if (to.size() < bins.size()) to.resize(bins.size());
  for (size_t b = 0; b < bins.size(); ++b) {
    to[b].count += bins[b].count;
    to[b].correct += bins[b].correct;
    to[b].confidence_sum += bins[b].confidence_sum;
  }
}

}  // namespace questbench

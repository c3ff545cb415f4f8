#include "models/fused_training.h"

#include "common/error.h"
#include "models/float_rows.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace questbench {
namespace {

constexpr float kNormEpsilon = 1e-6f;  // the QUEST convention of l2_normalize_last: v / (||v|| + 1e-6)

// The inner loops are written as y[0..n) += a * x[0..n) (no reductions), so the compiler vectorizes them
// without reassociating float sums.
inline void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t t = 0; t < n; ++t) y[t] += a * x[t];
}

inline float norm_of(const float* v, int64_t n) {
  float s = 0;
  for (int64_t t = 0; t < n; ++t) s += v[t] * v[t];
  return std::sqrt(s);
}

// One (sample, head)'s working set, allocated once per parallel chunk.
struct HeadBuffers {
  std::vector<float> q, k, v, kt, vt, s, dp, dq, dk, dv, norm_q, norm_k;
  HeadBuffers(int64_t n, int64_t d)
      : q(n * d), k(n * d), v(n * d), kt(d * n), vt(d * n), s(n * n), dp(n * n), dq(n * d), dk(n * d), dv(n * d),
        norm_q(n), norm_k(n) {}
};

struct Shape {
  int64_t batch, tokens, dim, heads, head_dim;
};

// Loads head h of sample b and turns q, k into the two factors of the logits: logits[i][j] = q[i] · k[j].
// standard: q / sqrt(D), k.  quest: q, k̂.  qknorm: g q̂, k̂.  qnorm: g q̂, k.
// The raw norms are kept for the backward.
void load_head(const float* qkv, const Shape& sh, int64_t b, int64_t h, AttentionKind kind, float g, HeadBuffers& w) {
  const int64_t n = sh.tokens, d = sh.head_dim, row = 3 * sh.dim;
  const float* base = qkv + b * n * row + h * d;
  for (int64_t i = 0; i < n; ++i) {
    const float* r = base + i * row;
    for (int64_t t = 0; t < d; ++t) {
      w.q[i * d + t] = r[t];
      w.k[i * d + t] = r[sh.dim + t];
      w.v[i * d + t] = r[2 * sh.dim + t];
    }
  }
  const bool norm_q = kind == AttentionKind::QKNorm || kind == AttentionKind::QNorm;
  const bool norm_k = kind == AttentionKind::Quest || kind == AttentionKind::QKNorm;
  for (int64_t i = 0; i < n; ++i) {
    w.norm_q[i] = norm_of(&w.q[i * d], d);
    w.norm_k[i] = norm_of(&w.k[i * d], d);
    float qf = 1.f;
    if (kind == AttentionKind::Standard) qf = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
    if (norm_q) qf = g / (w.norm_q[i] + kNormEpsilon);
    for (int64_t t = 0; t < d; ++t) w.q[i * d + t] *= qf;
    if (norm_k) {
      const float kf = 1.f / (w.norm_k[i] + kNormEpsilon);
      for (int64_t t = 0; t < d; ++t) w.k[i * d + t] *= kf;
    }
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < d; ++t) {
      w.kt[t * n + i] = w.k[i * d + t];
      w.vt[t * n + i] = w.v[i * d + t];
    }
}

// Gradient through v̂ = v / (n + eps), n = ||v||, in place: dv = dv̂ / (n + eps) − v (v · dv̂) / (n (n + eps)²),
// which with v = v̂ (n + eps) is dv̂ / (n + eps) − v̂ (v̂ · dv̂) / n (the second term 0 at n = 0, as torch's norm).
void normalize_backward(float* dv, const float* v_hat, float n, int64_t d) {
  float dot = 0;
  for (int64_t t = 0; t < d; ++t) dot += v_hat[t] * dv[t];
  const float inv = 1.f / (n + kNormEpsilon);
  const float c = n > 0 ? dot / n : 0.f;
  for (int64_t t = 0; t < d; ++t) dv[t] = dv[t] * inv - v_hat[t] * c;
}

struct FusedAttentionFunction : public torch::autograd::Function<FusedAttentionFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& qkv_in, const torch::Tensor& scale_in,
                               int64_t kind_value, int64_t num_heads) {
    const auto kind = static_cast<AttentionKind>(kind_value);
    auto qkv = qkv_in.contiguous();
    auto scale = scale_in.to(torch::kFloat).contiguous();
    const Shape sh{qkv.size(0), qkv.size(1), qkv.size(2) / 3, num_heads, qkv.size(2) / 3 / num_heads};
    const int64_t n = sh.tokens, d = sh.head_dim;
    auto out = torch::empty({sh.batch, n, sh.dim}, qkv.options());
    auto probs = torch::empty({sh.batch, sh.heads, n, n}, qkv.options());
    const float* qkv_p = qkv.data_ptr<float>();
    const float* g_p = scale.data_ptr<float>();
    float* out_p = out.data_ptr<float>();
    float* probs_p = probs.data_ptr<float>();
    at::parallel_for(0, sh.batch * sh.heads, 1, [&](int64_t begin, int64_t end) {
      HeadBuffers w(n, d);
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / sh.heads, h = task % sh.heads;
        load_head(qkv_p, sh, b, h, kind, g_p[h], w);
        float* p = probs_p + task * n * n;
        for (int64_t i = 0; i < n; ++i) {
          float* row = p + i * n;
          for (int64_t j = 0; j < n; ++j) row[j] = 0;
          for (int64_t t = 0; t < d; ++t) axpy(row, w.q[i * d + t], &w.kt[t * n], n);
          softmax_row_in_place(row, n);
          float* o = out_p + (b * n + i) * sh.dim + h * d;
          for (int64_t t = 0; t < d; ++t) o[t] = 0;
          for (int64_t j = 0; j < n; ++j) axpy(o, row[j], &w.v[j * d], d);
        }
      }
    });
    ctx->save_for_backward({qkv, scale, probs});
    ctx->saved_data["kind"] = kind_value;
    ctx->saved_data["heads"] = num_heads;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& qkv = saved[0];
    const auto& scale = saved[1];
    const auto& probs = saved[2];
    const auto kind = static_cast<AttentionKind>(ctx->saved_data["kind"].toInt());
    const int64_t num_heads = ctx->saved_data["heads"].toInt();
    auto grad_out = grads[0].contiguous();
    const Shape sh{qkv.size(0), qkv.size(1), qkv.size(2) / 3, num_heads, qkv.size(2) / 3 / num_heads};
    const int64_t n = sh.tokens, d = sh.head_dim, row = 3 * sh.dim;
    auto grad_qkv = torch::empty_like(qkv);
    const bool learnable = kind == AttentionKind::QKNorm || kind == AttentionKind::QNorm;
    // Per (sample, head) partial gradients of the scale, summed over samples in order below: the result does
    // not depend on how the tasks were split among threads.
    std::vector<float> grad_scale_parts(learnable ? sh.batch * sh.heads : 0, 0.f);
    const float* qkv_p = qkv.data_ptr<float>();
    const float* g_p = scale.data_ptr<float>();
    const float* probs_p = probs.data_ptr<float>();
    const float* go_p = grad_out.data_ptr<float>();
    float* gq_p = grad_qkv.data_ptr<float>();
    at::parallel_for(0, sh.batch * sh.heads, 1, [&](int64_t begin, int64_t end) {
      HeadBuffers w(n, d);
      std::vector<float> go(n * d);
      for (int64_t task = begin; task < end; ++task) {
        const int64_t b = task / sh.heads, h = task % sh.heads;
        load_head(qkv_p, sh, b, h, kind, g_p[h], w);
        const float* p = probs_p + task * n * n;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t t = 0; t < d; ++t) go[i * d + t] = go_p[(b * n + i) * sh.dim + h * d + t];
        std::fill(w.dv.begin(), w.dv.end(), 0.f);
        std::fill(w.dq.begin(), w.dq.end(), 0.f);
        std::fill(w.dk.begin(), w.dk.end(), 0.f);
        for (int64_t i = 0; i < n; ++i) {
          const float* pi = p + i * n;
          float* dpi = &w.dp[i * n];
          for (int64_t j = 0; j < n; ++j) axpy(&w.dv[j * d], pi[j], &go[i * d], d);  // dV = Pᵀ dO
          for (int64_t j = 0; j < n; ++j) dpi[j] = 0;
          for (int64_t t = 0; t < d; ++t) axpy(dpi, go[i * d + t], &w.vt[t * n], n);  // dP = dO Vᵀ
          float dot = 0;
          for (int64_t j = 0; j < n; ++j) dot += pi[j] * dpi[j];
          for (int64_t j = 0; j < n; ++j) dpi[j] = pi[j] * (dpi[j] - dot);  // dS, the softmax backward
          for (int64_t j = 0; j < n; ++j) {
            axpy(&w.dq[i * d], dpi[j], &w.k[j * d], d);  // dQ' = dS K'
            axpy(&w.dk[j * d], dpi[j], &w.q[i * d], d);  // dK' = dSᵀ Q'
          }
        }
        // From the logits' factors back to the raw q, k (see load_head).
        const float g = g_p[h];
        float grad_g = 0;
        for (int64_t i = 0; i < n; ++i) {
          float* dq = &w.dq[i * d];
          float* dk = &w.dk[i * d];
          switch (kind) {
            case AttentionKind::Standard: {
              const float c = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
              for (int64_t t = 0; t < d; ++t) dq[t] *= c;
              break;
            }
            case AttentionKind::Quest:
              normalize_backward(dk, &w.k[i * d], w.norm_k[i], d);
              break;
            case AttentionKind::QKNorm:
            case AttentionKind::QNorm: {
              // q' = g q̂: dg = Σ dq' · q̂ = Σ dq' · q' / g; dq̂ = g dq'.
              std::vector<float> q_hat(d);
              const float q_hat_f = 1.f / (w.norm_q[i] + kNormEpsilon);
              const float* raw = qkv_p + (b * n + i) * row + h * d;
              for (int64_t t = 0; t < d; ++t) q_hat[t] = raw[t] * q_hat_f;
              for (int64_t t = 0; t < d; ++t) grad_g += dq[t] * q_hat[t];
              for (int64_t t = 0; t < d; ++t) dq[t] *= g;
              normalize_backward(dq, q_hat.data(), w.norm_q[i], d);
              if (kind == AttentionKind::QKNorm) normalize_backward(dk, &w.k[i * d], w.norm_k[i], d);
              break;
            }
          }
          float* dst = gq_p + (b * n + i) * row + h * d;
          for (int64_t t = 0; t < d; ++t) {
            dst[t] = dq[t];
            dst[sh.dim + t] = dk[t];
            dst[2 * sh.dim + t] = w.dv[i * d + t];
          }
        }
        if (learnable) grad_scale_parts[task] = grad_g;
      }
    });
    torch::Tensor grad_scale;
    if (learnable) {
      grad_scale = torch::zeros({sh.heads}, scale.options());
      float* gs = grad_scale.data_ptr<float>();
      for (int64_t b = 0; b < sh.batch; ++b)
        for (int64_t h = 0; h < sh.heads; ++h) gs[h] += grad_scale_parts[b * sh.heads + h];
    }
    return {grad_qkv, grad_scale, torch::Tensor(), torch::Tensor()};
  }
};

// The forward is ATen's GELU (vectorized); ATen's GELU backward is not, and is the slowest op of the MLP, so
// the backward here is a few vectorized tensor ops: dy/dx = Φ(x) + x φ(x).
struct FusedGeluFunction : public torch::autograd::Function<FusedGeluFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return torch::gelu(x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    auto cdf = torch::erf(x * M_SQRT1_2).add_(1.0).mul_(0.5);
    auto pdf = (x * x).mul_(-0.5).exp_().mul_(0.5 * M_2_SQRTPI * M_SQRT1_2);
    return {grads[0] * cdf.addcmul_(x, pdf)};
  }
};

}  // namespace

bool fused_kernels_apply(const torch::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == torch::kFloat; }

torch::Tensor fused_attention(const torch::Tensor& qkv, const torch::Tensor& scale, AttentionKind kind, int64_t num_heads) {
  QB_CHECK(qkv.dim() == 3 && qkv.size(2) % (3 * num_heads) == 0,
           "fused attention: qkv must be [B, N, 3E] with E divisible by the " << num_heads << " heads");
  QB_CHECK(fused_kernels_apply(qkv), "fused attention: CPU float32 only");
  const bool learnable = kind == AttentionKind::QKNorm || kind == AttentionKind::QNorm;
  QB_CHECK(!learnable || (scale.defined() && scale.numel() == num_heads), "fused attention: qknorm/qnorm need the per-head scale");
  const auto s = learnable ? scale : torch::ones({num_heads}, qkv.options());
  return FusedAttentionFunction::apply(qkv, s, static_cast<int64_t>(kind), num_heads);
}

torch::Tensor fused_gelu(const torch::Tensor& x) {
  QB_CHECK(fused_kernels_apply(x), "fused GELU: CPU float32 only");
  return FusedGeluFunction::apply(x);
}

}  // namespace questbench

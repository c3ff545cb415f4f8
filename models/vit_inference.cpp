#include "models/vit_inference.h"

#include "models/float_rows.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace questbench {
namespace {

// Rows (tokens) a chunk aims at: large enough that the GEMMs run near BLAS speed, small enough that a chunk's
// activations (about 8 floats per embedding column and row) stay in a core's L2 cache at the sizes questbench uses.
constexpr int64_t kChunkRows = 256;
// Attention products at or above this many multiply-adds per (sample, head) go to BLAS; below it the call
// overhead outweighs the product (17 tokens x 16 dims: ~4.6k), so plain loops do it.
constexpr int64_t kBlasAttentionMacs = 32 * 1024;

const at::TensorOptions kFloatOptions = at::TensorOptions().dtype(at::kFloat);

at::Tensor matrix(float* data, int64_t rows, int64_t cols) { return at::from_blob(data, {rows, cols}, kFloatOptions); }
at::Tensor matrix(float* data, int64_t rows, int64_t cols, int64_t row_stride) {
  return at::from_blob(data, {rows, cols}, {row_stride, 1}, kFloatOptions);
}

struct LinearParams {
  at::Tensor weight, bias;  // [out, in] (contiguous), [out] or undefined
};

struct LayerNormParams {
  const float* weight;
  const float* bias;
};

struct BlockParams {
  LayerNormParams norm1, norm2;
  LinearParams qkv, proj, fc1, fc2;
  at::Tensor scale;  // [H], qknorm/qnorm only
};

struct NetworkParams {
  at::Tensor patch_weight;  // [E, C*P*P]
  at::Tensor patch_bias;    // [E]
  at::Tensor cls_token;     // [E] or undefined
  at::Tensor pos_embed;     // [N, E]
  std::vector<BlockParams> blocks;
  LayerNormParams final_norm;  // norm (token pool) or fc_norm (avg pool)
  LinearParams head;
};

LinearParams linear_params(const torch::nn::Linear& linear) {
  LinearParams p;
  p.weight = linear->weight.contiguous();
  if (linear->bias.defined()) p.bias = linear->bias.contiguous();
  return p;
}

LayerNormParams layer_norm_params(const torch::nn::LayerNorm& norm, std::vector<at::Tensor>& keep) {
  keep.push_back(norm->weight.contiguous());
  keep.push_back(norm->bias.contiguous());
  return {keep[keep.size() - 2].data_ptr<float>(), keep.back().data_ptr<float>()};
}

// out[rows, out_features] = in[rows, in_features] W^T + b
void linear_out(float* out, float* in, int64_t rows, const LinearParams& p) {
  auto o = matrix(out, rows, p.weight.size(0));
  auto i = matrix(in, rows, p.weight.size(1));
  if (p.bias.defined()) {
    at::addmm_out(o, p.bias, i, p.weight.t());
  } else {
    at::mm_out(o, i, p.weight.t());
  }
}

// x[rows, E] += in W^T + b, through `scratch` [rows, E].
void linear_residual(float* x, float* in, float* scratch, int64_t rows, const LinearParams& p) {
  const int64_t cols = p.weight.size(0);
  auto product = matrix(scratch, rows, cols);
  at::mm_out(product, matrix(in, rows, p.weight.size(1)), p.weight.t());
  const float* b = p.bias.defined() ? p.bias.data_ptr<float>() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * cols;
    const float* sr = scratch + r * cols;
    if (b) {
      for (int64_t c = 0; c < cols; ++c) xr[c] += sr[c] + b[c];
    } else {
      for (int64_t c = 0; c < cols; ++c) xr[c] += sr[c];
    }
  }
}

// LayerNorm over the last dim (biased variance, eps 1e-6), statistics accumulated in double.
void layer_norm_rows(const float* x, float* y, int64_t rows, int64_t dim, const LayerNormParams& p) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double sum = 0;
    for (int64_t c = 0; c < dim; ++c) sum += xr[c];
    const double mean = sum / static_cast<double>(dim);
    double sq = 0;
    for (int64_t c = 0; c < dim; ++c) {
      const double d = xr[c] - mean;
      sq += d * d;
    }
    const float inv_std = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(dim) + 1e-6));
    const float m = static_cast<float>(mean);
    for (int64_t c = 0; c < dim; ++c) yr[c] = (xr[c] - m) * inv_std * p.weight[c] + p.bias[c];
  }
}

// dst[i] = src[i*stride ..] * factor for `rows` vectors of `dim` floats; with normalize, each divided by (||v|| + 1e-6)
// first (the QUEST convention, as l2_normalize_last).
void copy_rows(const float* src, int64_t src_stride, float* dst, int64_t rows, int64_t dim, bool normalize, float factor) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * src_stride;
    float* d = dst + r * dim;
    if (normalize) {
      double sq = 0;
      for (int64_t c = 0; c < dim; ++c) sq += static_cast<double>(s[c]) * s[c];
      const float denom = static_cast<float>(std::sqrt(sq)) + 1e-6f;
      for (int64_t c = 0; c < dim; ++c) d[c] = s[c] / denom;
    } else {
      for (int64_t c = 0; c < dim; ++c) d[c] = s[c] * factor;
    }
  }
}

void softmax_rows_in_place(float* a, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) softmax_row_in_place(a + r * cols, cols);
}

// Per-thread buffers, grown on demand and kept for the thread's lifetime (the pool's threads outlive calls).
struct Workspace {
  std::vector<float> data;
  float* take(size_t& offset, int64_t count) {
    float* p = data.data() + offset;
    offset += static_cast<size_t>((count + 15) / 16 * 16);  // 64-byte steps
    return p;
  }
};
thread_local Workspace workspace;

class ChunkRunner {
 public:
  ChunkRunner(const ViTConfig& c, const NetworkParams& p)
      : c_(c), p_(p), E_(c.embed_dim), N_(c.num_tokens()), H_(c.num_heads), D_(c.head_dim()), L_(c.num_patches()),
        prefix_(c.class_token ? 1 : 0), hidden_(c.mlp_hidden()), patch_len_(c.in_chans * c.patch_size * c.patch_size),
        blas_attention_(N_ * N_ * D_ >= kBlasAttentionMacs) {}

  // Samples [begin, begin + count) of x -> logits rows of out.
  void run(const float* x, int64_t begin, int64_t count, float* out) const {
    const int64_t rows = count * N_;
    const size_t needed = static_cast<size_t>(
        16 * 12 + rows * (3 * E_ + 3 * E_ + std::max(hidden_, E_)) + L_ * patch_len_ + 2 * N_ * D_ + 2 * N_ * N_ + 2 * count * E_);
    if (workspace.data.size() < needed) workspace.data.resize(needed);
    size_t offset = 0;
    float* tokens = workspace.take(offset, rows * E_);
    float* normed = workspace.take(offset, rows * E_);
    float* scratch = workspace.take(offset, rows * E_);
    float* qkv = workspace.take(offset, rows * 3 * E_);
    float* mlp = workspace.take(offset, rows * std::max(hidden_, E_));
    float* patches = workspace.take(offset, L_ * patch_len_);
    float* q = workspace.take(offset, N_ * D_);
    float* k = workspace.take(offset, N_ * D_);
    float* logits = workspace.take(offset, N_ * N_);
    float* probs = workspace.take(offset, N_ * N_);
    float* pooled = workspace.take(offset, count * E_);
    float* pooled_normed = workspace.take(offset, count * E_);

    embed(x, begin, count, tokens, patches);
    // Token pooling reads only the first row of each sample in the last block's output: that block runs on it alone.
    const bool first_token_only = c_.global_pool == "token" && !p_.blocks.empty();
    for (size_t b = 0; b < p_.blocks.size(); ++b) {
      const auto& block = p_.blocks[b];
      if (first_token_only && b + 1 == p_.blocks.size()) {
        last_block_first_token(block, tokens, normed, qkv, scratch, mlp, q, k, probs, count, pooled);
        break;
      }
      layer_norm_rows(tokens, normed, rows, E_, block.norm1);
      linear_out(qkv, normed, rows, block.qkv);
      for (int64_t s = 0; s < count; ++s) {
        for (int64_t h = 0; h < H_; ++h) attention_head(block, qkv + s * N_ * 3 * E_, h, normed + s * N_ * E_, q, k, logits, probs);
      }
      linear_residual(tokens, normed, scratch, rows, block.proj);
      layer_norm_rows(tokens, normed, rows, E_, block.norm2);
      linear_out(mlp, normed, rows, block.fc1);
      auto hidden = matrix(mlp, rows, hidden_);
      at::gelu_out(hidden, hidden);  // exact erf GELU, on the block just written
      linear_residual(tokens, mlp, scratch, rows, block.fc2);
    }
    for (int64_t s = 0; !first_token_only && s < count; ++s) {
      float* dst = pooled + s * E_;
      const float* sample = tokens + s * N_ * E_;
      if (c_.global_pool == "token") {
        std::copy(sample, sample + E_, dst);
        continue;
      }
      // mean over the patch tokens, summed in token order like ATen's mean over that dim
      std::fill(dst, dst + E_, 0.0f);
      for (int64_t t = prefix_; t < N_; ++t)
        for (int64_t e = 0; e < E_; ++e) dst[e] += sample[t * E_ + e];
      const float inv = 1.0f / static_cast<float>(N_ - prefix_);
      for (int64_t e = 0; e < E_; ++e) dst[e] *= inv;
    }
    layer_norm_rows(pooled, pooled_normed, count, E_, p_.final_norm);
    linear_out(out, pooled_normed, count, p_.head);
  }

 private:
  // Patch embedding (the stride-P convolution as one GEMM per sample over its patches), class token, positions.
  void embed(const float* x, int64_t begin, int64_t count, float* tokens, float* patches) const {
    const int64_t P = c_.patch_size, C = c_.in_chans, H = c_.img_height, W = c_.img_width, GW = c_.grid_w();
    const float* pos = p_.pos_embed.data_ptr<float>();
    for (int64_t s = 0; s < count; ++s) {
      const float* img = x + (begin + s) * C * H * W;
      for (int64_t patch = 0; patch < L_; ++patch) {
        const int64_t r = patch / GW, col = patch % GW;
        float* dst = patches + patch * patch_len_;
        for (int64_t ch = 0; ch < C; ++ch)
          for (int64_t ky = 0; ky < P; ++ky) {
            const float* src = img + ch * H * W + (r * P + ky) * W + col * P;
            std::copy(src, src + P, dst + (ch * P + ky) * P);
          }
      }
      float* sample = tokens + s * N_ * E_;
      auto patch_tokens = matrix(sample + prefix_ * E_, L_, E_);
      at::addmm_out(patch_tokens, p_.patch_bias, matrix(patches, L_, patch_len_), p_.patch_weight.t());
      if (prefix_) {
        const float* cls = p_.cls_token.data_ptr<float>();
        std::copy(cls, cls + E_, sample);
      }
      for (int64_t i = 0; i < N_ * E_; ++i) sample[i] += pos[i];
    }
  }

  // The operands of one head of one sample, with the variant's normalization and 1/sqrt(D) folded in: the first
  // `query_rows` queries and all N keys, from qkv rows [N, 3E]. Returns the learned per-head scale (1 without one).
  float head_operands(const BlockParams& block, const float* qkv, int64_t h, int64_t query_rows, float* q, float* k) const {
    const int64_t stride = 3 * E_;
    const float* q_src = qkv + h * D_;
    const float* k_src = qkv + E_ + h * D_;
    switch (c_.attention) {
      case AttentionKind::Standard:
        copy_rows(q_src, stride, q, query_rows, D_, false, static_cast<float>(1.0 / std::sqrt(static_cast<double>(D_))));
        copy_rows(k_src, stride, k, N_, D_, false, 1.0f);
        return 1.0f;
      case AttentionKind::Quest:
        copy_rows(q_src, stride, q, query_rows, D_, false, 1.0f);
        copy_rows(k_src, stride, k, N_, D_, true, 1.0f);
        return 1.0f;
      case AttentionKind::QKNorm:
        copy_rows(q_src, stride, q, query_rows, D_, true, 1.0f);
        copy_rows(k_src, stride, k, N_, D_, true, 1.0f);
        return block.scale.data_ptr<float>()[h];
      case AttentionKind::QNorm:
        copy_rows(q_src, stride, q, query_rows, D_, true, 1.0f);
        copy_rows(k_src, stride, k, N_, D_, false, 1.0f);
        return block.scale.data_ptr<float>()[h];
    }
    return 1.0f;
  }

  bool scaled_logits() const { return c_.attention == AttentionKind::QKNorm || c_.attention == AttentionKind::QNorm; }

  // The last block for token pooling: every token's keys and values, but the query, attention output, projection,
  // MLP and residuals of each sample's first row only (the other rows' outputs would never be read).
  // tokens [count*N, E] in; first [count, E] out (the block's output at each sample's first row).
  void last_block_first_token(const BlockParams& block, const float* tokens, float* normed, float* qkv, float* scratch,
                              float* mlp, float* q, float* k, float* probs, int64_t count, float* first) const {
    const int64_t rows = count * N_;
    layer_norm_rows(tokens, normed, rows, E_, block.norm1);
    linear_out(qkv, normed, rows, block.qkv);
    float* attended = normed;  // [count, E]; the normalized rows were read by the qkv product above
    for (int64_t s = 0; s < count; ++s) {
      const float* sample_qkv = qkv + s * N_ * 3 * E_;
      const float* v = sample_qkv + 2 * E_;
      for (int64_t h = 0; h < H_; ++h) {
        const float gain = head_operands(block, sample_qkv, h, 1, q, k);
        for (int64_t j = 0; j < N_; ++j) {
          const float* kj = k + j * D_;
          float dot = 0;
          for (int64_t d = 0; d < D_; ++d) dot += q[d] * kj[d];
          probs[j] = scaled_logits() ? dot * gain : dot;
        }
        softmax_rows_in_place(probs, 1, N_);
        float* o = attended + s * E_ + h * D_;
        std::fill(o, o + D_, 0.0f);
        for (int64_t j = 0; j < N_; ++j) {
          const float pj = probs[j];
          const float* vj = v + j * 3 * E_ + h * D_;
          for (int64_t d = 0; d < D_; ++d) o[d] += pj * vj[d];
        }
      }
      std::copy(tokens + s * N_ * E_, tokens + s * N_ * E_ + E_, first + s * E_);
    }
    linear_residual(first, attended, scratch, count, block.proj);
    layer_norm_rows(first, attended, count, E_, block.norm2);
    linear_out(mlp, attended, count, block.fc1);
    auto hidden = matrix(mlp, count, hidden_);
    at::gelu_out(hidden, hidden);
    linear_residual(first, mlp, scratch, count, block.fc2);
  }

  // One head of one sample: qkv rows [N, 3E] -> its D columns of out rows [N, E].
  void attention_head(const BlockParams& block, const float* qkv, int64_t h, float* out, float* q, float* k, float* logits,
                      float* probs) const {
    const int64_t stride = 3 * E_;
    const float* v = qkv + 2 * E_ + h * D_;
    const float gain = head_operands(block, qkv, h, N_, q, k);
    const bool scaled = scaled_logits();
    float* head_out = out + h * D_;
    if (blas_attention_) {
      auto logits_m = matrix(logits, N_, N_), probs_m = matrix(probs, N_, N_), out_m = matrix(head_out, N_, D_, E_);
      at::mm_out(logits_m, matrix(q, N_, D_), matrix(k, N_, D_).t());
      if (scaled)
        for (int64_t i = 0; i < N_ * N_; ++i) logits[i] *= gain;
      at::_softmax_out(probs_m, logits_m, 1, false);
      at::mm_out(out_m, probs_m, matrix(const_cast<float*>(v), N_, D_, stride));
      return;
    }
    for (int64_t i = 0; i < N_; ++i) {
      const float* qi = q + i * D_;
      float* row = probs + i * N_;
      for (int64_t j = 0; j < N_; ++j) {
        const float* kj = k + j * D_;
        float dot = 0;
        for (int64_t d = 0; d < D_; ++d) dot += qi[d] * kj[d];
        row[j] = scaled ? dot * gain : dot;
      }
    }
    softmax_rows_in_place(probs, N_, N_);
    for (int64_t i = 0; i < N_; ++i) {
      float* o = head_out + i * E_;
      std::fill(o, o + D_, 0.0f);
      const float* pi = probs + i * N_;
      for (int64_t j = 0; j < N_; ++j) {
        const float pij = pi[j];
        const float* vj = v + j * stride;
        for (int64_t d = 0; d < D_; ++d) o[d] += pij * vj[d];
      }
    }
  }

  const ViTConfig& c_;
  const NetworkParams& p_;
  const int64_t E_, N_, H_, D_, L_, prefix_, hidden_, patch_len_;
  const bool blas_attention_;
};

}  // namespace

int64_t vit_inference_chunk_samples(int64_t num_tokens) { return std::max<int64_t>(1, kChunkRows / std::max<int64_t>(1, num_tokens)); }

bool vit_inference_applies(const VisionTransformerImpl& vit, const torch::Tensor& x) {
  if (!x.defined() || !x.device().is_cpu() || x.scalar_type() != at::kFloat || x.dim() != 4) return false;
  const bool grad_possible = at::GradMode::is_enabled() && !c10::InferenceMode::is_enabled();
  if (grad_possible && x.requires_grad()) return false;
  for (const auto& p : vit.parameters()) {
    if (!p.device().is_cpu() || p.scalar_type() != at::kFloat) return false;
    if (grad_possible && p.requires_grad()) return false;
  }
  return true;
}

torch::Tensor vit_inference_logits(const VisionTransformerImpl& vit, const torch::Tensor& x_in) {
  const ViTConfig& c = vit.config();
  TORCH_CHECK(x_in.dim() == 4 && x_in.size(1) == c.in_chans && x_in.size(2) == c.img_height && x_in.size(3) == c.img_width,
              "ViT inference: input ", x_in.sizes(), " does not match the model");
  auto& m = const_cast<VisionTransformerImpl&>(vit);  // read-only: the holders' accessors are non-const
  const auto x = x_in.contiguous();
  const int64_t batch = x.size(0);
  auto out = torch::empty({batch, c.num_classes}, x.options());
  if (batch == 0) return out;

  NetworkParams p;
  std::vector<at::Tensor> keep;
  {
    c10::InferenceMode inference_mode;
    p.patch_weight = m.patch_embed->proj->weight.reshape({c.embed_dim, -1}).contiguous();
    p.patch_bias = m.patch_embed->proj->bias.contiguous();
    if (c.class_token) p.cls_token = m.cls_token.reshape({c.embed_dim}).contiguous();
    p.pos_embed = m.pos_embed.reshape({c.num_tokens(), c.embed_dim}).contiguous();
    for (size_t i = 0; i < m.blocks->size(); ++i) {
      auto* b = m.blocks[i]->as<BlockImpl>();
      BlockParams bp;
      bp.norm1 = layer_norm_params(b->norm1, keep);
      bp.norm2 = layer_norm_params(b->norm2, keep);
      bp.qkv = linear_params(b->attn->qkv);
      bp.proj = linear_params(b->attn->proj);
      bp.fc1 = linear_params(b->mlp->fc1);
      bp.fc2 = linear_params(b->mlp->fc2);
      if (b->attn->scale.defined()) bp.scale = b->attn->scale.contiguous();
      p.blocks.push_back(std::move(bp));
    }
    p.final_norm = layer_norm_params(c.global_pool == "token" ? m.norm : m.fc_norm, keep);
    p.head = linear_params(m.head);
  }

  const ChunkRunner runner(c, p);
  const int64_t chunk = vit_inference_chunk_samples(c.num_tokens());
  const int64_t chunks = (batch + chunk - 1) / chunk;
  const float* xp = x.data_ptr<float>();
  float* op = out.data_ptr<float>();
  // At least two slots when LibTorch may use more than one thread, so that the region opens even for one chunk: inside
  // it every ATen and BLAS call runs on the calling thread, instead of each small op synchronizing the thread pool.
  const int64_t slots = at::get_num_threads() > 1 ? std::max<int64_t>(chunks, 2) : chunks;
  at::parallel_for(0, slots, 1, [&](int64_t begin, int64_t end) {
    c10::InferenceMode inference_mode;  // thread-local: the region's other threads do not inherit the caller's
    for (int64_t i = begin; i < std::min(end, chunks); ++i) {
      const int64_t first = i * chunk, count = std::min(chunk, batch - first);
      runner.run(xp, first, count, op + first * c.num_classes);
    }
  });
  return out;
}

}  // namespace questbench

// Frost textures for the frost corruption: the five the reference draws from, either loaded from a folder
// with the original photos (frost1.png, frost2.png, frost3.png, frost4.jpg, frost5.jpg) or generated
// procedurally. Cached per (source, scale); thread-safe.
#pragma once

#include "corruptions/corrupt.h"

#include <torch/torch.h>

#include <string>
#include <vector>

namespace questbench::corruption {

// Scale applied to the textures before cropping: the table's (ImageNet-C 1, Tiny 0.3, CIFAR 0.2) for its
// native size; for other sizes additionally max(H, W) / native side, raised if needed so that every
// texture exceeds H x W.
double frost_texture_scale(CorruptionTable table, int64_t height, int64_t width);

// Five RGB textures as float64 [3, Ht, Wt] holding 8-bit levels (CPU), each larger than height x width.
// `dir` empty = procedural. Throws questbench::Error naming a missing or unreadable file.
const std::vector<torch::Tensor>& frost_textures(const std::string& dir, double scale, int64_t height, int64_t width);

// One procedural texture (index 0..4 mimicking frost1..frost5) at its photo's full size, 8-bit levels.
torch::Tensor procedural_frost_texture(int index);

}  // namespace questbench::corruption

// Include this first in every test file instead of <catch2/catch.hpp>: LibTorch pulls in glog, whose
// CHECK macro would otherwise replace Catch's CHECK (silently turning soft checks into aborts).
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#undef CHECK
#include <catch2/catch.hpp>

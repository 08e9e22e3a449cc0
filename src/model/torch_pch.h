// Precompiled header for the files that use libtorch (model, and later train
// and serve implementation files). Never include it from a public header.
#pragma once
#include <torch/torch.h>

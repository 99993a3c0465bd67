// Module: the base of every layer. It owns named parameters and named
// submodules, so a whole model can list, save, load and move its weights by
// dotted names ("blocks.0.ffn.w1.weight"), as in PyTorch.
//
//   struct Mlp : Module {
//     std::shared_ptr<Linear> fc1, fc2;
//     Mlp() : fc1(register_module("fc1", std::make_shared<Linear>(8, 32))),
//             fc2(register_module("fc2", std::make_shared<Linear>(32, 8))) {}
//     Tensor forward(const Tensor& x) const { return fc2->forward(gelu(fc1->forward(x))); }
//   };
//
// forward() is not virtual: layers take different inputs; each declares its own.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace moegrad {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;

  // Every parameter of this module and its submodules, depth-first in
  // registration order, with dotted names.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;

  // Parameters by name. load_state_dict copies values into the existing
  // tensors (keeping their identity, so optimizers stay attached); with
  // strict it requires exactly the same names, and always equal shapes and
  // dtypes. Errors name the parameter.
  std::map<std::string, Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

  // Training mode switches layers such as Dropout; it applies to submodules.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  void zero_grad();  // drops every parameter's gradient

  // Moves every parameter, and its gradient if it has one, to `device`, in
  // place: each parameter keeps its identity (the Tensor handles that layers
  // and optimizers hold see the new storage), stays a leaf and keeps
  // requires_grad. Modules hold no state but parameters (there are no
  // buffers), so this moves the whole module. An optimizer that already
  // stepped keeps its state on the old device: its next step fails naming
  // both devices; create optimizers after moving, as in PyTorch.
  Module& to(Device device);

  // Direct submodules, in registration order, with their names.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  // Registers a parameter (made a leaf that requires grad) and returns it.
  Tensor register_parameter(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_module(name, module);
    return module;
  }

 private:
  void add_module(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, NamedTensors& out) const;

  NamedTensors params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace moegrad

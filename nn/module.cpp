#include "nn/module.h"

#include <set>

#include "core/copy.h"
#include "core/graph.h"

namespace moegrad {

namespace {
void check_name(const char* what, const std::string& name) {
  MOEGRAD_CHECK(!name.empty() && name.find('.') == std::string::npos, "Module", what, " name '", name,
                "' must be non-empty and contain no '.'");
}
}  // namespace

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_name("parameter", name);
  for (const auto& [n, p] : params_) MOEGRAD_CHECK(n != name, "Module", "parameter '", name, "' registered twice");
  Tensor p = value.detach();
  p.requires_grad_();
  params_.emplace_back(name, p);
  return p;
}

void Module::add_module(const std::string& name, std::shared_ptr<Module> module) {
  check_name("submodule", name);
  MOEGRAD_CHECK(module != nullptr, "Module", "submodule '", name, "' is null");
  for (const auto& [n, m] : children_) MOEGRAD_CHECK(n != name, "Module", "submodule '", name, "' registered twice");
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [name, p] : params_) out.emplace_back(prefix + name, p);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  for (auto& [name, p] : named_parameters()) out[name] = p.detach();
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  NamedTensors params = named_parameters();
  std::set<std::string> known;
  for (auto& [name, p] : params) {
    known.insert(name);
    auto it = state.find(name);
    if (it == state.end()) {
      MOEGRAD_CHECK(!strict, "load_state_dict", "missing parameter '", name, "' ", shape_str(p.shape()));
      continue;
    }
    const Tensor& v = it->second;
    MOEGRAD_CHECK(v.shape() == p.shape() && v.dtype() == p.dtype(), "load_state_dict", "parameter '", name,
                  "' is ", shape_str(p.shape()), " ", dtype_name(p.dtype()), " but the state has ",
                  shape_str(v.shape()), " ", dtype_name(v.dtype()));
  }
  if (strict)
    for (auto& [name, v] : state)
      MOEGRAD_CHECK(known.count(name), "load_state_dict", "unexpected parameter '", name, "' ", shape_str(v.shape()));
  // Validate everything first so a failed load changes nothing.
  NoGradGuard no_grad;
  for (auto& [name, p] : params) {
    auto it = state.find(name);
    if (it != state.end()) copy_(p, it->second.to(p.device()));
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

namespace {
// Points `t`'s impl at a copy of its data on `device`; every handle sharing
// the impl follows. A fresh contiguous copy, so strides and offset reset.
void move_in_place(const Tensor& t, Device device) {
  Tensor moved = t.detach().to(device);
  TensorImpl& impl = *t.impl_ptr();
  impl.storage = moved.storage();
  impl.strides = moved.strides();
  impl.offset = moved.offset();
}
}  // namespace

Module& Module::to(Device device) {
  for (auto& [name, p] : named_parameters()) {
    if (p.device() == device) continue;
    move_in_place(p, device);
    if (Tensor g = p.grad(); g.defined() && g.device() != device) move_in_place(g, device);
  }
  return *this;
}

void Module::zero_grad() {
  for (auto& [name, p] : named_parameters()) p.set_grad(Tensor());
}

}  // namespace moegrad

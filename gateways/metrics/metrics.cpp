#include "gateways/metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace olocal::metrics {

namespace {

template <class Builder>
auto& build(Builder builder, std::string_view name, std::string_view help,
            prometheus::Registry& reg) {
  return builder.Name(std::string{name}).Help(std::string{help}).Register(reg);
}

auto& make_family(prometheus::Registry& reg, std::string_view name, std::string_view help,
                  prometheus::Family<prometheus::Counter>*) {
  return build(prometheus::BuildCounter(), name, help, reg);
}

auto& make_family(prometheus::Registry& reg, std::string_view name, std::string_view help,
                  prometheus::Family<prometheus::Gauge>*) {
  return build(prometheus::BuildGauge(), name, help, reg);
}

auto& make_family(prometheus::Registry& reg, std::string_view name, std::string_view help,
                  prometheus::Family<prometheus::Histogram>*) {
  return build(prometheus::BuildHistogram(), name, help, reg);
}

} // namespace

const std::vector<descriptor>& catalogue() {
  static const std::vector<descriptor> entries = {
#define OLOCAL_METRIC(member, kind, name, help, ...) {#member, #kind, name, help, {__VA_ARGS__}},
#include "gateways/metrics/catalogue.def"
#undef OLOCAL_METRIC
  };
  return entries;
}

registry::registry()
  : registry_(std::make_shared<prometheus::Registry>())
#define OLOCAL_METRIC(member, kind, name, help, ...)                                               \
  , member(make_family(*registry_, name, help, static_cast<kind*>(nullptr)))
#include "gateways/metrics/catalogue.def"
#undef OLOCAL_METRIC
{
}

std::string registry::serialize() const {
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, registry_->Collect());
  return out.str();
}

const prometheus::Histogram::BucketBoundaries& registry::latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  return buckets;
}

} // namespace olocal::metrics

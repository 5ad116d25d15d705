#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace olocal::metrics {

/// One entry of the catalogue in catalogue.def.
struct descriptor {
  std::string_view member;
  std::string_view kind; ///< "counter", "gauge", "histogram"
  std::string_view name;
  std::string_view help;
  std::vector<std::string_view> labels;
};

/// Every metric the project exports, in declaration order.
const std::vector<descriptor>& catalogue();

/// The families of one process, each declared once in catalogue.def.
class registry {
  using counter = prometheus::Family<prometheus::Counter>;
  using gauge = prometheus::Family<prometheus::Gauge>;
  using histogram = prometheus::Family<prometheus::Histogram>;

public:
  registry();

  std::shared_ptr<prometheus::Registry> prometheus_registry() const { return registry_; }

  /// The Prometheus text exposition format (version 0.0.4).
  std::string serialize() const;

  /// Latency buckets used by every histogram: 100 us .. 30 s.
  static const prometheus::Histogram::BucketBoundaries& latency_buckets();

private:
  std::shared_ptr<prometheus::Registry> registry_;

public:
#define OLOCAL_METRIC(member, kind, name, help, ...) kind& member;
#include "gateways/metrics/catalogue.def"
#undef OLOCAL_METRIC
};

} // namespace olocal::metrics

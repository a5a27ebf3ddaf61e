#include "collect/cpu_sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "collect/bpf_support.h"
#include "cpu.skel.h"

namespace profd {

Result<std::unique_ptr<CpuSampler>> CpuSampler::Load(const Options& options) {
  std::string error;
  std::unique_ptr<CpuSampler> sampler(new CpuSampler());  // owns the skeleton from here on
  sampler->period_nanos_ = 1000000000LL / options.frequency_hz;

  auto configure = [&options, &sampler](cpu_bpf* skel) {
    Configure(options, skel);
    skel->rodata->period_nanos = static_cast<uint64_t>(sampler->period_nanos_);
    skel->rodata->phase_timing = options.phase_timing;
    bpf_map__set_max_entries(skel->maps.stacks, options.max_stacks);
    bpf_map__set_max_entries(skel->maps.counts, options.max_counts);
    const int cpus = libbpf_num_possible_cpus();
    bpf_map__set_max_entries(skel->maps.cpu_periods, static_cast<uint32_t>(cpus > 0 ? cpus : 1));
    // The maps stay preallocated: allocating an entry in the timer interrupt the sampler runs in
    // fails now and then (measured: about 1 new stack in 250 lost with BPF_F_NO_PREALLOC).
  };
  if (!sampler->skel_.Load("the CPU sampler", configure, &error) ||
      !sampler->UseObject(sampler->skel_->obj, options, &error))
    return Error{error};
  sampler->cpu_periods_fd_ = bpf_map__fd(sampler->skel_->maps.cpu_periods);
  if (options.phase_timing)
    sampler->phase_nanos_fd_ = bpf_map__fd(sampler->skel_->maps.phase_nanos);
  return sampler;
}

Result<void> CpuSampler::Attach() {
  for (int cpu : OnlineCpus()) {
    // A period in nanoseconds, not a frequency (which the kernel would adjust from the event rate):
    // Poll varies it around period_nanos.
    int fd = OpenSoftwarePerfEvent(PERF_COUNT_SW_CPU_CLOCK, static_cast<uint64_t>(period_nanos_),
                                   /*pid=*/-1, cpu, /*inherit=*/false);
    if (fd < 0) {
      if (errno == ENODEV) continue;  // went offline meanwhile
      return Error{DescribeBpfError(
          "cannot open a CPU clock perf event on CPU " + std::to_string(cpu), errno)};
    }
    bpf_link* link = AttachToPerfEvent(skel_->progs.profd_cpu_sample, UniqueFd(fd));
    if (!link) {
      return Error{
          DescribeBpfError("cannot attach the CPU sampler on CPU " + std::to_string(cpu), errno)};
    }
    links_.push_back(link);
    events_.push_back({cpu, fd, Clock::now()});
    // At the nominal period until Poll's first change; a reattached sampler forgets the last one.
    const profd_cpu_period nominal = {};
    const uint32_t key = static_cast<uint32_t>(cpu);
    (void)bpf_map_update_elem(cpu_periods_fd_, &key, &nominal, BPF_ANY);
  }
  if (links_.empty()) {
    return Error{"no online CPU could be sampled"};
  }
  std::string error;
  if (!AttachProcessEvents(&error)) return Error{error};
  return {};
}

void CpuSampler::Stop() {
  events_.clear();  // their links close them
  StackCollector::Stop();
}

void CpuSampler::SetSampling(bool on) {
  const Clock::time_point now = Clock::now();
  for (size_t i = 0; i < events_.size(); i++) {
    (void)ioctl(events_[i].fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
    // A new period and its restart time: the first sample after the gap counts one period.
    if (on) Retune(i, now);
  }
}

double CpuSampler::Poll() {
  const Clock::time_point now = Clock::now();
  for (size_t i = 0; i < events_.size(); i++)
    if (now >= events_[i].retune_at) Retune(i, now);
  return 0.1;
}

void CpuSampler::Retune(size_t event, Clock::time_point now) {
  std::uniform_real_distribution<double> scale(0.8, 1.2), hold(0.2, 0.6);
  Event& e = events_[event];
  e.retune_at = now + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(hold(random_)));
  profd_cpu_period set = {};
  set.period_ns = static_cast<uint64_t>(static_cast<double>(period_nanos_) * scale(random_));
  set.period_ns = std::max<uint64_t>(set.period_ns, 10000);  // the kernel's least hrtimer period
  // A failure keeps the period it had (and the weight the BPF program gives it): the profile stays
  // right, only more prone to aliasing.
  if (ioctl(e.fd, PERF_EVENT_IOC_PERIOD, &set.period_ns) != 0) return;
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);  // bpf_ktime_get_ns's clock
  set.restarted_ns =
      static_cast<uint64_t>(t.tv_sec) * 1000000000ULL + static_cast<uint64_t>(t.tv_nsec);
  const uint32_t key = static_cast<uint32_t>(e.cpu);
  (void)bpf_map_update_elem(cpu_periods_fd_, &key, &set, BPF_ANY);
}

std::vector<std::string> CpuSampler::Notes() const {
  std::vector<std::string> notes = {
      "sampling period drawn anew every 0.2-0.6 s within 20% of 1e9/Hz on each CPU, so that code "
      "periodic near the rate is not aliased; each sample counts its CPU's period"};
  if (phase_nanos_fd_ < 0) return notes;
  // Summed over CPUs: a per-CPU array holds one value per possible CPU.
  const int cpus = std::max(libbpf_num_possible_cpus(), 1);
  std::vector<uint64_t> per_cpu(static_cast<size_t>(cpus));
  uint64_t totals[PROFD_PHASE_MAX] = {};
  for (uint32_t phase = 0; phase < PROFD_PHASE_MAX; phase++)
    if (bpf_map_lookup_elem(phase_nanos_fd_, &phase, per_cpu.data()) == 0)
      for (uint64_t v : per_cpu) totals[phase] += v;
  const double samples = static_cast<double>(std::max<uint64_t>(totals[PROFD_PHASE_SAMPLES], 1));
  auto us = [&](int phase) { return totals[phase] / 1e3 / samples; };
  char line[300];
  std::snprintf(line, sizeof(line),
                "BPF time per sample by phase (%llu samples timed, with a clock read per phase): "
                "user walk %.2f us, user store %.2f us, kernel walk %.2f us, kernel store %.2f us, "
                "count %.2f us",
                static_cast<unsigned long long>(totals[PROFD_PHASE_SAMPLES]),
                us(PROFD_PHASE_USER_WALK), us(PROFD_PHASE_USER_STORE), us(PROFD_PHASE_KERNEL_WALK),
                us(PROFD_PHASE_KERNEL_STORE), us(PROFD_PHASE_COUNT));
  notes.push_back(line);
  return notes;
}

CpuSampler::~CpuSampler() {
  Stop();  // the perf events close before the skeleton, a member, is destroyed
}

}  // namespace profd

#include "collect/cpu_sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>

#include <cerrno>

#include "collect/bpf_support.h"
#include "cpu.skel.h"

namespace profd {

std::unique_ptr<CpuSampler> CpuSampler::Load(const Options& options, std::string* error) {
  std::unique_ptr<CpuSampler> sampler(new CpuSampler());  // owns the skeleton from here on
  sampler->period_nanos_ = 1000000000LL / options.frequency_hz;

  auto configure = [&options, &sampler](cpu_bpf* skel) {
    Configure(options, skel->rodata);
    skel->rodata->period_nanos = static_cast<uint64_t>(sampler->period_nanos_);
    bpf_map__set_max_entries(skel->maps.stacks, options.max_stacks);
    bpf_map__set_max_entries(skel->maps.counts, options.max_counts);
    // The maps stay preallocated: allocating an entry in the timer interrupt the sampler runs in
    // fails now and then (measured: about 1 new stack in 250 lost with BPF_F_NO_PREALLOC).
  };
  if (!sampler->skel_.Load("the CPU sampler", configure, error) ||
      !sampler->UseObject(sampler->skel_->obj, options, error))
    return nullptr;
  return sampler;
}

bool CpuSampler::Attach(std::string* error) {
  for (int cpu : OnlineCpus()) {
    // A fixed period in nanoseconds, not a frequency: every sample then stands for exactly
    // period_nanos of CPU time, which is what cpu/nanoseconds reports.
    int fd = OpenSoftwarePerfEvent(PERF_COUNT_SW_CPU_CLOCK, static_cast<uint64_t>(period_nanos_),
                                   /*pid=*/-1, cpu, /*inherit=*/false);
    if (fd < 0) {
      if (errno == ENODEV) continue;  // went offline meanwhile
      *error = DescribeBpfError("cannot open a CPU clock perf event on CPU " + std::to_string(cpu),
                                errno);
      return false;
    }
    bpf_link* link = AttachToPerfEvent(skel_->progs.profd_cpu_sample, UniqueFd(fd));
    if (!link) {
      *error =
          DescribeBpfError("cannot attach the CPU sampler on CPU " + std::to_string(cpu), errno);
      return false;
    }
    links_.push_back(link);
  }
  if (links_.empty()) {
    *error = "no online CPU could be sampled";
    return false;
  }
  return AttachProcessEvents(error);
}

void CpuSampler::Stop() { StackCollector::Stop(); }

CpuSampler::~CpuSampler() {
  Stop();  // the perf events close before the skeleton, a member, is destroyed
}

}  // namespace profd

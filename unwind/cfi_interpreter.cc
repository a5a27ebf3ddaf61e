#include "cfi_interpreter.h"

#include <dwarf.h>

#include <cstring>
#include <limits>
#include <unordered_map>

namespace profd {
namespace {

constexpr uint64_t kRbp = 6;
constexpr uint64_t kRsp = 7;
constexpr int64_t kReturnAddressOffset = -8;  // x86-64: the call pushed it just below the CFA
constexpr size_t kMaxRememberDepth = 64;      // bounds a malformed program's memory

// Bounds-checked little-endian reads; a read past the end yields 0 and clears ok().
class Reader {
 public:
  Reader(const uint8_t* begin, const uint8_t* end) : p_(begin), end_(end) {}
  bool ok() const { return ok_; }
  bool done() const { return p_ >= end_; }
  const uint8_t* pos() const { return p_; }

  template <typename T>
  T Fixed() {
    if (static_cast<size_t>(end_ - p_) < sizeof(T)) return Fail<T>();
    T value;
    std::memcpy(&value, p_, sizeof(T));
    p_ += sizeof(T);
    return value;
  }
  uint8_t U8() { return Fixed<uint8_t>(); }
  uint64_t Uleb() {
    uint64_t value = 0;
    for (unsigned shift = 0; p_ < end_; shift += 7) {
      uint8_t byte = *p_++;
      if (shift < 64) value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    return Fail<uint64_t>();
  }
  int64_t Sleb() {
    uint64_t value = 0;
    for (unsigned shift = 0; p_ < end_;) {
      uint8_t byte = *p_++;
      if (shift < 64) value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) == 0) {
        if (shift < 64 && (byte & 0x40)) value |= ~uint64_t{0} << shift;
        return static_cast<int64_t>(value);
      }
    }
    return Fail<int64_t>();
  }
  const char* CString() {
    const void* nul = std::memchr(p_, 0, end_ - p_);
    if (nul == nullptr) return Fail<const char*>();
    const char* s = reinterpret_cast<const char*>(p_);
    p_ = static_cast<const uint8_t*>(nul) + 1;
    return s;
  }
  const uint8_t* Skip(uint64_t n) {
    if (static_cast<uint64_t>(end_ - p_) < n) return Fail<const uint8_t*>();
    const uint8_t* start = p_;
    p_ += n;
    return start;
  }

 private:
  template <typename T>
  T Fail() {
    ok_ = false;
    p_ = end_;
    return T{};
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

// Reads a DW_EH_PE-encoded pointer. With `apply`, pc-relative values are made absolute; the other
// bases (text, data, function) have no meaning in a file and fail.
bool ReadEncoded(Reader* r, uint8_t encoding, const CfiSection& sec, uint8_t address_size,
                 bool apply, uint64_t* out) {
  if (encoding == DW_EH_PE_omit) return false;
  const uint8_t* field = r->pos();
  uint64_t value = 0;
  switch (encoding & 0x0f) {
    case DW_EH_PE_absptr:
      value = address_size == 4 ? r->Fixed<uint32_t>() : r->Fixed<uint64_t>();
      break;
    case DW_EH_PE_uleb128:
      value = r->Uleb();
      break;
    case DW_EH_PE_udata2:
      value = r->Fixed<uint16_t>();
      break;
    case DW_EH_PE_udata4:
      value = r->Fixed<uint32_t>();
      break;
    case DW_EH_PE_udata8:
      value = r->Fixed<uint64_t>();
      break;
    case DW_EH_PE_sleb128:
      value = r->Sleb();
      break;
    case DW_EH_PE_sdata2:
      value = static_cast<int64_t>(r->Fixed<int16_t>());
      break;
    case DW_EH_PE_sdata4:
      value = static_cast<int64_t>(r->Fixed<int32_t>());
      break;
    case DW_EH_PE_sdata8:
      value = r->Fixed<uint64_t>();
      break;
    default:
      return false;
  }
  if (!r->ok()) return false;
  if (apply) {
    switch (encoding & 0x70) {
      case DW_EH_PE_absptr:
        break;
      case DW_EH_PE_pcrel:
        value += sec.vaddr + (field - sec.data);
        break;
      default:
        return false;
    }
    if (encoding & DW_EH_PE_indirect) return false;
  }
  *out = value;
  return true;
}

enum class RuleKind : uint8_t {
  kUnspecified,  // no rule: for rbp the same as same_value on x86-64
  kUndefined,
  kSameValue,
  kOffset,  // saved at CFA + value
  kOther,   // val_offset, register, expression, val_expression: not expressible
};

struct Rule {
  RuleKind kind = RuleKind::kUnspecified;
  int64_t value = 0;
};

struct CfaRule {
  bool is_expression = false;
  uint64_t reg = ~uint64_t{0};  // undefined until the CIE says
  int64_t offset = 0;
  const uint8_t* expr = nullptr;
  uint64_t expr_len = 0;
};

struct State {
  CfaRule cfa;
  Rule rbp;
  Rule ra;
};

struct Cie {
  bool ok = false;
  uint64_t code_align = 1;
  int64_t data_align = 1;
  uint64_t ra_reg = 16;
  uint8_t fde_encoding = DW_EH_PE_absptr;
  uint8_t address_size = 8;
  bool has_z = false;
  bool signal = false;
  const uint8_t* insns = nullptr;
  const uint8_t* insns_end = nullptr;
  State initial;
};

// Matches `DW_OP_breg7 N; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_litT; DW_OP_ge;
// DW_OP_lit3; DW_OP_shl; DW_OP_plus`, the CFA of binutils' lazy PLT entries.
bool MatchPlt(const uint8_t* expr, uint64_t len, int64_t* offset, int* threshold) {
  Reader r(expr, expr + len);
  if (r.U8() != DW_OP_breg7) return false;
  *offset = r.Sleb();
  static constexpr uint8_t kTail[] = {DW_OP_breg16, 0, DW_OP_lit15, DW_OP_and};
  static constexpr uint8_t kEnd[] = {DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus};
  const uint8_t* tail = r.Skip(sizeof(kTail));
  if (!r.ok() || std::memcmp(tail, kTail, sizeof(kTail)) != 0) return false;
  uint8_t lit = r.U8();
  if (lit < DW_OP_lit0 || lit > DW_OP_lit31) return false;
  *threshold = lit - DW_OP_lit0;
  const uint8_t* end = r.Skip(sizeof(kEnd));
  return r.ok() && r.done() && std::memcmp(end, kEnd, sizeof(kEnd)) == 0;
}

// Matches `DW_OP_breg7 160; DW_OP_deref`: the signal frame's CFA is the interrupted rsp, saved in
// the ucontext at rsp (uc_mcontext.gregs[REG_RSP] is at offset 160).
bool MatchSignal(const uint8_t* expr, uint64_t len) {
  Reader r(expr, expr + len);
  return r.U8() == DW_OP_breg7 && r.Sleb() == 160 && r.U8() == DW_OP_deref && r.ok() && r.done();
}

profd_unwind_row ToRow(const State& s, const Cie& cie, uint64_t pc, CfiStats* stats) {
  profd_unwind_row row{};
  row.pc = pc;
  ++stats->rows;
  auto unsupported = [&](uint64_t* reason) {
    ++*reason;
    ++stats->unsupported_rows;
    row.cfa_type = PROFD_CFA_NONE;
    return row;
  };

  if (cie.signal) {
    if (s.cfa.is_expression && MatchSignal(s.cfa.expr, s.cfa.expr_len)) {
      ++stats->signal_rows;
      row.cfa_type = PROFD_CFA_SIGNAL;
      return row;
    }
    if (s.cfa.is_expression) return unsupported(&stats->cfa_expression_rows);
  }
  if (s.ra.kind == RuleKind::kUndefined) {
    ++stats->end_rows;
    row.cfa_type = PROFD_CFA_END;
    return row;
  }
  if (s.ra.kind != RuleKind::kOffset || s.ra.value != kReturnAddressOffset) {
    return unsupported(&stats->ra_rule_rows);
  }

  if (s.cfa.is_expression) {
    int64_t offset = 0;
    int threshold = 0;
    if (!MatchPlt(s.cfa.expr, s.cfa.expr_len, &offset, &threshold)) {
      return unsupported(&stats->cfa_expression_rows);
    }
    if (threshold != 11) return unsupported(&stats->plt_threshold_rows);
    ++stats->plt_rows;
    row.cfa_type = PROFD_CFA_PLT;
    row.cfa_offset = static_cast<int32_t>(offset);
    return row;
  }
  if (s.cfa.reg == kRsp) {
    row.cfa_type = PROFD_CFA_RSP;
  } else if (s.cfa.reg == kRbp) {
    row.cfa_type = PROFD_CFA_RBP;
  } else {
    return unsupported(&stats->cfa_other_register_rows);
  }
  if (s.cfa.offset < std::numeric_limits<int32_t>::min() ||
      s.cfa.offset > std::numeric_limits<int32_t>::max()) {
    return unsupported(&stats->cfa_other_register_rows);
  }
  row.cfa_offset = static_cast<int32_t>(s.cfa.offset);

  switch (s.rbp.kind) {
    case RuleKind::kUnspecified:
    case RuleKind::kSameValue:
      row.rbp_type = PROFD_RBP_UNCHANGED;
      break;
    case RuleKind::kUndefined:
      row.rbp_type = PROFD_RBP_UNDEFINED;
      break;
    case RuleKind::kOffset:
      if (s.rbp.value >= std::numeric_limits<int16_t>::min() &&
          s.rbp.value <= std::numeric_limits<int16_t>::max()) {
        row.rbp_type = PROFD_RBP_AT_CFA;
        row.rbp_offset = static_cast<int16_t>(s.rbp.value);
        break;
      }
      [[fallthrough]];
    case RuleKind::kOther:
      ++stats->rbp_rule_unexpressible;
      row.rbp_type = PROFD_RBP_UNDEFINED;
      break;
  }
  return row;
}

// factored * data_align, for an operand scaled by the CIE's data alignment; false when the product
// overflows (no real offset is that large: the entry is malformed).
bool Scaled(int64_t factored, int64_t data_align, int64_t* out) {
  return !__builtin_mul_overflow(factored, data_align, out);
}

// Runs a CFA program. With `rows` null (a CIE's initial instructions) location changes are ignored;
// otherwise a row is appended each time the location advances inside [*loc, pc_end).
bool Run(const uint8_t* begin, const uint8_t* end, const Cie& cie, const CfiSection& sec,
         State* state, uint64_t* loc, uint64_t pc_end, std::vector<profd_unwind_row>* rows,
         CfiStats* stats) {
  std::vector<State> remembered;
  Reader r(begin, end);
  auto rule_of = [&](uint64_t reg) -> Rule* {
    if (reg == kRbp) return &state->rbp;
    if (reg == cie.ra_reg) return &state->ra;
    return nullptr;
  };
  auto set = [&](uint64_t reg, RuleKind kind, int64_t value = 0) {
    if (Rule* rule = rule_of(reg)) *rule = {kind, value};
  };
  // An offset rule whose operand overflows when scaled: false, and the FDE is dropped.
  auto set_scaled = [&](uint64_t reg, int64_t factored) {
    int64_t value;
    if (!Scaled(factored, cie.data_align, &value)) return false;
    set(reg, RuleKind::kOffset, value);
    return true;
  };
  auto restore = [&](uint64_t reg) {
    if (reg == kRbp) state->rbp = cie.initial.rbp;
    if (reg == cie.ra_reg) state->ra = cie.initial.ra;
  };
  auto emit = [&](const profd_unwind_row& row) {
    if (!rows->empty() && SameRule(rows->back(), row)) return;
    rows->push_back(row);
  };
  // Returns false once the location leaves the FDE.
  auto advance = [&](uint64_t new_loc) {
    if (rows == nullptr) return true;
    if (new_loc <= *loc) return new_loc == *loc;
    if (*loc < pc_end) emit(ToRow(*state, cie, *loc, stats));
    *loc = new_loc;
    return *loc < pc_end;
  };

  while (!r.done()) {
    uint8_t op = r.U8();
    uint8_t low = op & 0x3f;
    bool keep_going = true;
    switch (op & 0xc0) {
      case DW_CFA_advance_loc:
        keep_going = advance(*loc + low * cie.code_align);
        break;
      case DW_CFA_offset:
        if (!set_scaled(low, static_cast<int64_t>(r.Uleb()))) return false;
        break;
      case DW_CFA_restore:
        restore(low);
        break;
      default:
        switch (op) {
          case DW_CFA_nop:
            break;
          case DW_CFA_set_loc: {
            uint64_t target = 0;
            if (!ReadEncoded(&r, cie.fde_encoding, sec, cie.address_size, true, &target)) {
              return false;
            }
            keep_going = advance(target);
            break;
          }
          case DW_CFA_advance_loc1:
            keep_going = advance(*loc + r.U8() * cie.code_align);
            break;
          case DW_CFA_advance_loc2:
            keep_going = advance(*loc + r.Fixed<uint16_t>() * cie.code_align);
            break;
          case DW_CFA_advance_loc4:
            keep_going = advance(*loc + r.Fixed<uint32_t>() * cie.code_align);
            break;
          case DW_CFA_offset_extended: {
            uint64_t reg = r.Uleb();
            if (!set_scaled(reg, static_cast<int64_t>(r.Uleb()))) return false;
            break;
          }
          case DW_CFA_restore_extended:
            restore(r.Uleb());
            break;
          case DW_CFA_undefined:
            set(r.Uleb(), RuleKind::kUndefined);
            break;
          case DW_CFA_same_value:
            set(r.Uleb(), RuleKind::kSameValue);
            break;
          case DW_CFA_register: {
            uint64_t reg = r.Uleb();
            r.Uleb();
            set(reg, RuleKind::kOther);
            break;
          }
          case DW_CFA_remember_state:
            if (remembered.size() >= kMaxRememberDepth) return false;
            remembered.push_back(*state);
            break;
          case DW_CFA_restore_state:
            if (remembered.empty()) return false;
            *state = remembered.back();  // CFA included, as GCC's unwinder does
            remembered.pop_back();
            break;
          case DW_CFA_def_cfa:
            state->cfa.reg = r.Uleb();
            state->cfa.offset = static_cast<int64_t>(r.Uleb());
            state->cfa.is_expression = false;
            break;
          case DW_CFA_def_cfa_register:
            state->cfa.reg = r.Uleb();
            state->cfa.is_expression = false;
            break;
          case DW_CFA_def_cfa_offset:
            state->cfa.offset = static_cast<int64_t>(r.Uleb());
            break;
          case DW_CFA_def_cfa_expression:
            state->cfa.is_expression = true;
            state->cfa.expr_len = r.Uleb();
            state->cfa.expr = r.Skip(state->cfa.expr_len);
            break;
          case DW_CFA_expression:
          case DW_CFA_val_expression: {
            uint64_t reg = r.Uleb();
            r.Skip(r.Uleb());
            set(reg, RuleKind::kOther);
            break;
          }
          case DW_CFA_offset_extended_sf: {
            uint64_t reg = r.Uleb();
            if (!set_scaled(reg, r.Sleb())) return false;
            break;
          }
          case DW_CFA_def_cfa_sf:
            state->cfa.reg = r.Uleb();
            if (!Scaled(r.Sleb(), cie.data_align, &state->cfa.offset)) return false;
            state->cfa.is_expression = false;
            break;
          case DW_CFA_def_cfa_offset_sf:
            if (!Scaled(r.Sleb(), cie.data_align, &state->cfa.offset)) return false;
            break;
          case DW_CFA_val_offset:
          case DW_CFA_val_offset_sf: {
            uint64_t reg = r.Uleb();
            if (op == DW_CFA_val_offset) {
              r.Uleb();
            } else {
              r.Sleb();
            }
            set(reg, RuleKind::kOther);
            break;
          }
          case DW_CFA_GNU_args_size:
            r.Uleb();
            break;
          case DW_CFA_GNU_negative_offset_extended: {
            uint64_t reg = r.Uleb();
            int64_t value;
            if (!Scaled(static_cast<int64_t>(r.Uleb()), cie.data_align, &value) ||
                __builtin_sub_overflow(int64_t{0}, value, &value))
              return false;
            set(reg, RuleKind::kOffset, value);
            break;
          }
          default:
            return false;  // unknown opcode: its operands cannot be skipped
        }
    }
    if (!r.ok()) return false;
    if (!keep_going) return true;
  }
  if (rows != nullptr && *loc < pc_end) emit(ToRow(*state, cie, *loc, stats));
  return true;
}

// Parses the CIE whose length field is at `offset`.
Cie ParseCie(const CfiSection& sec, uint64_t offset) {
  Cie cie;
  if (offset >= sec.size) return cie;
  Reader r(sec.data + offset, sec.data + sec.size);
  uint64_t length = r.Fixed<uint32_t>();
  bool dwarf64 = length == 0xffffffff;
  if (dwarf64) length = r.Fixed<uint64_t>();
  const uint8_t* body = r.Skip(length);
  if (!r.ok()) return cie;
  Reader e(body, body + length);
  uint64_t id = dwarf64 ? e.Fixed<uint64_t>() : e.Fixed<uint32_t>();
  uint64_t want = sec.eh_frame ? 0 : (dwarf64 ? ~uint64_t{0} : 0xffffffffu);
  if (id != want) return cie;
  uint8_t version = e.U8();
  const char* aug = e.CString();
  if (!e.ok() || (version != 1 && version != 3 && version != 4)) return cie;
  if (version >= 4) {
    cie.address_size = e.U8();
    if (e.U8() != 0) return cie;  // segment selectors: not on x86-64
  }
  cie.code_align = e.Uleb();
  cie.data_align = e.Sleb();
  cie.ra_reg = version == 1 ? e.U8() : e.Uleb();
  if (aug[0] == 'z') {
    cie.has_z = true;
    uint64_t aug_len = e.Uleb();
    const uint8_t* aug_data = e.Skip(aug_len);
    if (!e.ok()) return cie;
    Reader a(aug_data, aug_data + aug_len);
    for (const char* c = aug + 1; *c != '\0'; ++c) {
      if (*c == 'L') {
        a.U8();
      } else if (*c == 'P') {
        uint64_t ignored;
        if (!ReadEncoded(&a, a.U8(), sec, cie.address_size, false, &ignored)) return cie;
      } else if (*c == 'R') {
        cie.fde_encoding = a.U8();
      } else if (*c == 'S') {
        cie.signal = true;
      } else if (*c == 'B' || *c == 'G') {
        // AArch64 pointer authentication and memory tagging: no data.
      } else {
        break;  // unknown: 'z' lets us skip the rest of its data
      }
    }
    if (!a.ok()) return cie;
  } else if (aug[0] != '\0') {
    return cie;  // e.g. the pre-'z' "eh" augmentation: FDE layout unknown
  }
  cie.insns = e.pos();
  cie.insns_end = body + length;
  if (!e.ok()) return cie;
  uint64_t loc = 0;
  CfiStats ignored;
  cie.ok = Run(cie.insns, cie.insns_end, cie, sec, &cie.initial, &loc, 0, nullptr, &ignored);
  return cie;
}

}  // namespace

bool InterpretCfi(const CfiSection& sec, std::vector<FdeRows>* fdes, CfiStats* stats,
                  std::string* error) {
  if (sec.data == nullptr && sec.size != 0) {
    *error = "CFI section has no data";
    return false;
  }
  std::unordered_map<uint64_t, Cie> cies;
  uint64_t offset = 0;
  while (offset + 4 <= sec.size) {
    Reader r(sec.data + offset, sec.data + sec.size);
    uint64_t length = r.Fixed<uint32_t>();
    if (length == 0) {
      if (sec.eh_frame) break;  // the terminator
      offset += 4;
      continue;
    }
    bool dwarf64 = length == 0xffffffff;
    if (dwarf64) length = r.Fixed<uint64_t>();
    const uint8_t* body = r.Skip(length);
    if (!r.ok()) {
      ++stats->bad_entries;
      break;  // a length past the section's end: nothing after it can be trusted
    }
    offset = (body - sec.data) + length;
    Reader e(body, body + length);
    uint64_t id = dwarf64 ? e.Fixed<uint64_t>() : e.Fixed<uint32_t>();
    uint64_t cie_id = sec.eh_frame ? 0 : (dwarf64 ? ~uint64_t{0} : 0xffffffffu);
    if (!e.ok() || id == cie_id) continue;

    // eh_frame: the id is the distance back to the CIE; debug_frame: the CIE's section offset.
    uint64_t cie_offset = sec.eh_frame ? (body - sec.data) - id : id;
    auto it = cies.find(cie_offset);
    if (it == cies.end()) it = cies.emplace(cie_offset, ParseCie(sec, cie_offset)).first;
    const Cie& cie = it->second;
    uint64_t pc_begin = 0;
    uint64_t pc_range = 0;
    if (!cie.ok || !ReadEncoded(&e, cie.fde_encoding, sec, cie.address_size, true, &pc_begin) ||
        !ReadEncoded(&e, cie.fde_encoding & 0x0f, sec, cie.address_size, false, &pc_range)) {
      ++stats->bad_entries;
      continue;
    }
    if (cie.has_z) e.Skip(e.Uleb());
    if (!e.ok()) {
      ++stats->bad_entries;
      continue;
    }
    ++stats->fdes;
    if (pc_range == 0 || pc_begin + pc_range < pc_begin) continue;

    FdeRows fde;
    fde.start = pc_begin;
    fde.end = pc_begin + pc_range;
    State state = cie.initial;
    uint64_t loc = pc_begin;
    if (!Run(e.pos(), body + length, cie, sec, &state, &loc, fde.end, &fde.rows, stats)) {
      // Keep the rows up to the bad instruction; the rest of the FDE gets no rule.
      ++stats->bad_entries;
      if (fde.rows.empty()) continue;
      fde.end = loc > fde.rows.back().pc ? loc : fde.rows.back().pc + 1;
    }
    if (!fde.rows.empty()) fdes->push_back(std::move(fde));
  }
  return true;
}

}  // namespace profd

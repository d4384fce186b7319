//! Call quality estimated from RTP figures: the ITU-T G.107 E-model, simplified as
//! ITU-T G.107 Annex B and G.113 Appendix I allow for a transmission planning estimate.
//!
//! R = R0 − Is − Id − Ie,eff + A with the defaults of G.107 Table 1 for everything we do
//! not measure (R0 − Is = 93.2, A = 0), so R = 93.2 − Id − Ie,eff, where
//! - Id, the delay impairment, comes from the one-way delay Ta in ms (G.107 §7.2 with the
//!   echo terms at their defaults, the usual simplification):
//!   Id = 0.024·Ta + 0.11·(Ta − 177.3)·H(Ta − 177.3);
//! - Ie,eff, the equipment impairment under packet loss (G.107 eq. 7-29):
//!   Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl/BurstR + Bpl), with Ie and Bpl of the codec from
//!   G.113 Appendix I (G.711: Ie = 0; Bpl = 4.3 without packet loss concealment, which is
//!   our receiver's case: a lost frame plays as silence) and BurstR = 1 (random loss);
//! - MOS from R (G.107 Annex B, eq. B-4):
//!   MOS = 1 for R < 0; 1 + 0.035·R + 7·10⁻⁶·R·(R − 60)·(100 − R) for 0 ≤ R ≤ 100;
//!   4.5 above.

/// A codec's impairment figures (G.113 Appendix I).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodecImpairment {
    /// Equipment impairment factor Ie without loss.
    pub ie: f64,
    /// Packet-loss robustness factor Bpl.
    pub bpl: f64,
}

/// G.711 (A-law and µ-law) played without packet loss concealment.
pub const G711_NO_PLC: CodecImpairment = CodecImpairment { ie: 0.0, bpl: 4.3 };

/// The delay impairment Id for a one-way (mouth-to-ear) delay of `ta_ms`.
pub fn delay_impairment(ta_ms: f64) -> f64 {
    let ta = ta_ms.max(0.0);
    let over = (ta - 177.3).max(0.0);
    0.024 * ta + 0.11 * over
}

/// The effective equipment impairment Ie,eff for `loss_percent` random packet loss.
pub fn effective_equipment_impairment(codec: CodecImpairment, loss_percent: f64) -> f64 {
    let ppl = loss_percent.clamp(0.0, 100.0);
    let burst_r = 1.0;
    codec.ie + (95.0 - codec.ie) * ppl / (ppl / burst_r + codec.bpl)
}

/// The transmission rating factor R.
pub fn r_factor(codec: CodecImpairment, loss_percent: f64, one_way_delay_ms: f64) -> f64 {
    93.2 - delay_impairment(one_way_delay_ms) - effective_equipment_impairment(codec, loss_percent)
}

/// The estimated mean opinion score for a rating `r` (G.107 Annex B).
pub fn mos_from_r(r: f64) -> f64 {
    if r < 0.0 {
        1.0
    } else if r > 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + 7.0e-6 * r * (r - 60.0) * (100.0 - r)
    }
}

/// The estimated MOS of a G.711 call with `loss_percent` loss and this one-way delay.
pub fn g711_mos(loss_percent: f64, one_way_delay_ms: f64) -> f64 {
    mos_from_r(r_factor(G711_NO_PLC, loss_percent, one_way_delay_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn mos_of_the_g107_reference_ratings() {
        // G.107 Annex B, Figure B.1 / the usual table of R against MOS.
        for (r, mos) in [
            (93.2, 4.41),
            (90.0, 4.34),
            (80.0, 4.02),
            (70.0, 3.60),
            (60.0, 3.10),
            (50.0, 2.58),
        ] {
            assert!(close(mos_from_r(r), mos, 0.006), "R {r}: {}", mos_from_r(r));
        }
        assert_eq!(mos_from_r(-5.0), 1.0);
        assert_eq!(mos_from_r(120.0), 4.5);
    }

    #[test]
    fn the_default_connection_rates_93_2() {
        // G.107 §7.7: with every parameter at its default, R = 93.2.
        assert!(close(r_factor(G711_NO_PLC, 0.0, 0.0), 93.2, 1e-9));
        assert!(close(g711_mos(0.0, 0.0), 4.41, 0.005));
    }

    #[test]
    fn delay_impairment_bends_at_177_3_ms() {
        assert!(close(delay_impairment(100.0), 2.4, 1e-9));
        assert!(close(delay_impairment(177.3), 4.2552, 1e-9));
        // 0.024·300 + 0.11·122.7
        assert!(close(delay_impairment(300.0), 20.697, 1e-9));
    }

    #[test]
    fn loss_impairment_of_g711() {
        // G.711 with PLC (Bpl 25.1, G.113 App. I) at 1 % random loss: 95/26.1.
        let plc = CodecImpairment { ie: 0.0, bpl: 25.1 };
        assert!(close(
            effective_equipment_impairment(plc, 1.0),
            3.6398,
            1e-4
        ));
        // Without PLC, 1 % loss costs 95/5.3 = 17.92 points: R 75.3, MOS 3.83.
        assert!(close(
            effective_equipment_impairment(G711_NO_PLC, 1.0),
            17.9245,
            1e-4
        ));
        assert!(close(g711_mos(1.0, 0.0), 3.83, 0.01));
        // Loss only ever lowers the score.
        let mut last = 5.0;
        for l in [0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0] {
            let m = g711_mos(l, 20.0);
            assert!(m < last, "{l} %: {m}");
            last = m;
        }
    }
}

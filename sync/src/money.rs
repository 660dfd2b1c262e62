//! Sums of money: the optional cost of a rectification and the amount behind the 五落实 funds.
//! Kept as whole minor units (fen, cents) so sums are exact; written as `{"amount": 1250.5,
//! "currency": "CNY"}` at the edges.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An amount in one currency, in hundredths (two decimal places, as every currency the
/// product meets uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// Hundredths of the currency unit; never negative.
    pub minor: i64,
    /// ISO 4217 code, three upper-case letters, e.g. `CNY`.
    pub currency: String,
}

/// The largest amount accepted (a thousand billion units): far above any rectification, far
/// below where hundredths stop fitting exactly.
const MAX_AMOUNT: f64 = 1e12;

impl Money {
    /// Parses `{"amount": number, "currency": "CNY"}`; the message names what is wrong.
    pub fn from_json(v: &Value) -> Result<Money, String> {
        let Value::Object(obj) = v else {
            return Err("expected an object {\"amount\": number, \"currency\": \"CNY\"}".into());
        };
        let amount = obj
            .get("amount")
            .and_then(Value::as_f64)
            .ok_or("amount: expected a number")?;
        if !amount.is_finite() || !(0.0..=MAX_AMOUNT).contains(&amount) {
            return Err("amount: expected a number from 0 to 1000000000000".into());
        }
        let minor = (amount * 100.0).round();
        if (minor - amount * 100.0).abs() > 1e-6 {
            return Err("amount: at most two decimal places".into());
        }
        let currency = obj
            .get("currency")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err("currency: expected a three-letter ISO 4217 code such as CNY".into());
        }
        Ok(Money {
            // Exact: |minor| <= 1e14 < 2^53.
            minor: minor as i64,
            currency: currency.to_ascii_uppercase(),
        })
    }

    /// The amount in currency units.
    pub fn amount(&self) -> f64 {
        self.minor as f64 / 100.0
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"amount": self.amount(), "currency": self.currency})
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let v = Value::deserialize(d)?;
        Money::from_json(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_writes_back() {
        let m = Money::from_json(&json!({"amount": 1250.5, "currency": "cny"})).unwrap();
        assert_eq!(m.minor, 125_050);
        assert_eq!(m.currency, "CNY");
        assert_eq!(m.to_json(), json!({"amount": 1250.5, "currency": "CNY"}));
        let back: Money = serde_json::from_value(m.to_json()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            Money::from_json(&json!({"amount": 0.1, "currency": "USD"}))
                .unwrap()
                .minor,
            10
        );
    }

    #[test]
    fn refuses_bad_amounts_and_currencies() {
        for bad in [
            json!({"amount": -1, "currency": "CNY"}),
            json!({"amount": 1.005, "currency": "CNY"}),
            json!({"amount": "12", "currency": "CNY"}),
            json!({"amount": 1e13, "currency": "CNY"}),
            json!({"amount": 12, "currency": "yuan"}),
            json!({"amount": 12}),
            json!(12),
        ] {
            assert!(Money::from_json(&bad).is_err(), "{bad}");
        }
    }
}

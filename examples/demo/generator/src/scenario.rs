//! The demo scenario: every file DMS lands, day by day, with its rows.
//! `examples/demo/README.md` tells the same story and the history it yields.

/// A column's type, named as in the table metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    Int64,
    Utf8,
    /// decimal128(precision, scale)
    Decimal(u8, i8),
    /// timestamp(us), no time zone
    TimestampUs,
    Bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
}

impl Col {
    pub const fn new(name: &'static str, ty: ColType, nullable: bool) -> Self {
        Col { name, ty, nullable }
    }
}

/// One cell. Decimals are unscaled integers; timestamps are microseconds
/// since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    Null,
    Int(i64),
    Str(String),
    Dec(i128),
    Ts(i64),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `LOADnnnnnnnn.parquet`: no `op` column, `scn` null on every row.
    FullLoad,
    /// Named by commit time; `op`, `extraction_timestamp`, `scn` first.
    Cdc,
}

#[derive(Debug, Clone)]
pub struct Row {
    /// I, U or D (CDC files only; ignored for full loads).
    pub op: &'static str,
    /// `extraction_timestamp`, `yyyy-MM-dd HH:mm:ss.SSSSSS`.
    pub ts: &'static str,
    /// The change sequence; None for full-load rows.
    pub scn: Option<u64>,
    /// The business columns, in the table's column order.
    pub values: Vec<Val>,
}

#[derive(Debug, Clone)]
pub struct LandedFile {
    pub day: &'static str,
    pub table: &'static str,
    pub name: &'static str,
    pub kind: FileKind,
    /// Business columns declared nullable in this file although the metadata
    /// says not-null (to make a malformed file).
    pub nullable_override: Vec<&'static str>,
    pub rows: Vec<Row>,
}

const CUSTOMERS: &[Col] = &[
    Col::new("customer_id", ColType::Int64, false),
    Col::new("name", ColType::Utf8, false),
    Col::new("email", ColType::Utf8, true),
    Col::new("country", ColType::Utf8, true),
    Col::new("created_at", ColType::TimestampUs, false),
];

const ORDERS: &[Col] = &[
    Col::new("order_id", ColType::Int64, false),
    Col::new("customer_id", ColType::Int64, false),
    Col::new("status", ColType::Utf8, false),
    Col::new("amount", ColType::Decimal(12, 2), false),
    Col::new("ordered_at", ColType::TimestampUs, false),
    Col::new("note", ColType::Utf8, true),
];

const PRODUCTS: &[Col] = &[
    Col::new("product_id", ColType::Int64, false),
    Col::new("name", ColType::Utf8, false),
    Col::new("price", ColType::Decimal(10, 2), false),
    Col::new("active", ColType::Bool, false),
];

pub fn business_columns(table: &str) -> &'static [Col] {
    match table {
        "customers" => CUSTOMERS,
        "orders" => ORDERS,
        "products" => PRODUCTS,
        other => panic!("no such demo table: {other}"),
    }
}

/// Microseconds since the Unix epoch of `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn ts(s: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 { s[r].parse().expect("timestamp digits") };
    assert_eq!(s.len(), 19, "timestamp {s:?} is not YYYY-MM-DD HH:MM:SS");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let secs = days_from_civil(y, m, d) * 86_400 + n(11..13) * 3_600 + n(14..16) * 60 + n(17..19);
    secs * 1_000_000
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A decimal with two fractional digits, e.g. `"25.50"`, unscaled.
fn money(s: &str) -> Val {
    let (int, frac) = s.split_once('.').expect("money has a decimal point");
    assert_eq!(frac.len(), 2, "money {s:?} needs two fractional digits");
    Val::Dec(int.parse::<i128>().unwrap() * 100 + frac.parse::<i128>().unwrap())
}

fn opt(s: Option<&str>) -> Val {
    s.map_or(Val::Null, |s| Val::Str(s.to_string()))
}

fn customer(id: i64, name: &str, email: &str, country: &str, created_at: &str) -> Vec<Val> {
    vec![
        Val::Int(id),
        Val::Str(name.to_string()),
        Val::Str(email.to_string()),
        Val::Str(country.to_string()),
        Val::Ts(ts(created_at)),
    ]
}

fn order(
    id: i64,
    customer_id: i64,
    status: Option<&str>,
    amount: &str,
    ordered_at: &str,
    note: Option<&str>,
) -> Vec<Val> {
    vec![
        Val::Int(id),
        Val::Int(customer_id),
        opt(status),
        money(amount),
        Val::Ts(ts(ordered_at)),
        opt(note),
    ]
}

fn product(id: i64, name: &str, price: &str, active: bool) -> Vec<Val> {
    vec![
        Val::Int(id),
        Val::Str(name.to_string()),
        money(price),
        Val::Bool(active),
    ]
}

fn load(ts: &'static str, values: Vec<Val>) -> Row {
    Row {
        op: "",
        ts,
        scn: None,
        values,
    }
}

fn change(op: &'static str, ts: &'static str, scn: u64, values: Vec<Val>) -> Row {
    Row {
        op,
        ts,
        scn: Some(scn),
        values,
    }
}

fn file(
    day: &'static str,
    table: &'static str,
    name: &'static str,
    kind: FileKind,
    rows: Vec<Row>,
) -> LandedFile {
    LandedFile {
        day,
        table,
        name,
        kind,
        nullable_override: Vec::new(),
        rows,
    }
}

/// Every landed file of the scenario, in landing order.
pub fn files() -> Vec<LandedFile> {
    use FileKind::{Cdc, FullLoad};

    let alice = |email| customer(1, "Alice Martin", email, "GB", "2026-01-05 10:00:00");
    let bob = |email| customer(2, "Bob Chen", email, "US", "2026-02-10 11:30:00");
    let chloe = customer(
        3,
        "Chloé Dubois",
        "chloe@example.fr",
        "FR",
        "2026-03-15 09:15:00",
    );
    let chloe_again = customer(
        3,
        "Chloé Dubois",
        "chloe.dubois@example.fr",
        "FR",
        "2026-11-03 08:00:00",
    );

    let o100 = |status| order(100, 1, Some(status), "25.50", "2026-10-30 12:00:00", None);
    let o101 = |status| {
        order(
            101,
            2,
            Some(status),
            "99.99",
            "2026-10-31 08:00:00",
            Some("gift wrap"),
        )
    };
    let o102 = order(102, 3, Some("new"), "15.00", "2026-10-31 18:45:00", None);
    let o103 = |status| order(103, 1, status, "42.00", "2026-11-01 10:14:00", None);
    let o104 = order(104, 2, Some("new"), "10.00", "2026-11-04 10:58:00", None);

    let load1 = "2026-11-01 06:00:00.000000";
    let extract1 = "2026-11-01 05:00:00.000000";
    let extract3 = "2026-11-03 05:00:00.000000";

    let mut malformed = file(
        "2026-11-04",
        "orders",
        "20261104-110000000.parquet",
        Cdc,
        vec![
            change("I", "2026-11-04 11:00:00.000000", 402, o104),
            // status NULL violates the column's not-null constraint.
            change("U", "2026-11-04 11:00:01.000000", 403, o103(None)),
        ],
    );
    malformed.nullable_override = vec!["status"];

    vec![
        // Day 1: initial full loads, then the first CDC file.
        file(
            "2026-11-01",
            "customers",
            "LOAD00000001.parquet",
            FullLoad,
            vec![
                load(load1, alice("alice@example.com")),
                load(load1, bob("bob@example.com")),
                load(load1, chloe.clone()),
            ],
        ),
        file(
            "2026-11-01",
            "orders",
            "LOAD00000001.parquet",
            FullLoad,
            vec![
                load(load1, o100("shipped")),
                load(load1, o101("paid")),
                load(load1, o102.clone()),
            ],
        ),
        file(
            "2026-11-01",
            "products",
            "LOAD00000001.parquet",
            FullLoad,
            vec![
                load(extract1, product(1, "Espresso beans 1kg", "18.50", true)),
                load(extract1, product(2, "Filter papers", "4.20", true)),
                load(extract1, product(3, "Grinder", "89.00", true)),
            ],
        ),
        file(
            "2026-11-01",
            "orders",
            "20261101-101500000.parquet",
            Cdc,
            vec![
                // Captured while the full load ran: duplicates the loaded row.
                change("I", "2026-11-01 06:00:00.500000", 100, o102.clone()),
                change("I", "2026-11-01 10:15:00.000000", 101, o103(Some("new"))),
                change("U", "2026-11-01 10:15:00.250000", 102, o100("delivered")),
            ],
        ),
        // Day 2: an update and a delete; out-of-order and no-op updates.
        file(
            "2026-11-02",
            "customers",
            "20261102-093000000.parquet",
            Cdc,
            vec![
                change(
                    "U",
                    "2026-11-02 09:30:00.000000",
                    201,
                    bob("bob.chen@example.com"),
                ),
                change("D", "2026-11-02 09:45:00.000000", 202, chloe),
            ],
        ),
        file(
            "2026-11-02",
            "orders",
            "20261102-120000000.parquet",
            Cdc,
            vec![
                // Same commit time, rows not in scn order: packed (203) comes first.
                change("U", "2026-11-02 12:00:00.000000", 204, o101("shipped")),
                change("U", "2026-11-02 12:00:00.000000", 203, o101("packed")),
                // Same values as the current version.
                change("U", "2026-11-02 12:05:00.000000", 205, o103(Some("new"))),
            ],
        ),
        // Day 3: re-insert after delete, a delete, a second product extract.
        file(
            "2026-11-03",
            "customers",
            "20261103-080000000.parquet",
            Cdc,
            vec![change("I", "2026-11-03 08:00:00.000000", 301, chloe_again)],
        ),
        file(
            "2026-11-03",
            "orders",
            "20261103-140000000.parquet",
            Cdc,
            vec![change("D", "2026-11-03 14:00:00.000000", 302, o102)],
        ),
        file(
            "2026-11-03",
            "products",
            "LOAD00000001.parquet",
            FullLoad,
            vec![
                load(extract3, product(1, "Espresso beans 1kg", "18.50", true)),
                load(extract3, product(2, "Filter papers", "4.60", true)),
                load(extract3, product(4, "Milk jug", "12.00", true)),
            ],
        ),
        // Day 4: a good customers file and a malformed orders file.
        file(
            "2026-11-04",
            "customers",
            "20261104-070000000.parquet",
            Cdc,
            vec![change(
                "U",
                "2026-11-04 07:00:00.000000",
                401,
                alice("alice.martin@example.com"),
            )],
        ),
        malformed,
    ]
}

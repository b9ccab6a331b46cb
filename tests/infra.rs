//! The Terraform under `infra/`, checked offline: every file parses, and the
//! code, the state machine definition and the IAM roles agree.
//!
//! The files are parsed by the HCL2 parser checkov scans with (through
//! `tools/python/tf_to_json.py` in the tools venv), into the JSON shape that
//! parser produces: blocks as lists of objects, attribute values as lists,
//! expressions as `${…}` strings.

use regex::Regex;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tidemark_aws::permissions;
use tidemark_core::steps::Step;
use tidemark_tests::{assert_golden, python, workspace};

fn infra() -> PathBuf {
    workspace().join("infra")
}

fn module_dir() -> PathBuf {
    infra().join("modules/pipeline")
}

/// Every `.tf` file under `infra/`, parsed, by path relative to `infra/`.
fn parsed() -> &'static BTreeMap<String, Value> {
    static PARSED: OnceLock<BTreeMap<String, Value>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let script = workspace().join("tools/python/tf_to_json.py");
        let out = Command::new(python())
            .arg(&script)
            .arg(infra())
            .output()
            .expect("run tools/python/tf_to_json.py");
        assert!(
            out.status.success(),
            "Terraform files that do not parse:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("tf_to_json.py prints JSON")
    })
}

/// The blocks of one kind (`resource`, `data`, `locals`, …) of every file, with their file.
fn blocks<'a>(kind: &str) -> Vec<(&'a str, &'a Value)> {
    parsed()
        .iter()
        .flat_map(|(file, body)| {
            body.get(kind)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |b| (file.as_str(), b))
        })
        .collect()
}

/// Every `<kind> "<type>" "<name>"` block (resources, data sources), by (type, name).
fn typed(kind: &str) -> BTreeMap<(String, String), (String, Value)> {
    let mut out = BTreeMap::new();
    for (file, block) in blocks(kind) {
        for (ty, named) in block.as_object().expect("typed block") {
            for (name, body) in named.as_object().expect("named block") {
                let previous =
                    out.insert((ty.clone(), name.clone()), (file.to_string(), body.clone()));
                assert!(previous.is_none(), "{kind} {ty}.{name} is declared twice");
            }
        }
    }
    out
}

fn resource(ty: &str, name: &str) -> Value {
    typed("resource")
        .remove(&(ty.to_string(), name.to_string()))
        .unwrap_or_else(|| panic!("resource {ty}.{name} is missing"))
        .1
}

fn data_source(ty: &str, name: &str) -> Value {
    typed("data")
        .remove(&(ty.to_string(), name.to_string()))
        .unwrap_or_else(|| panic!("data {ty}.{name} is missing"))
        .1
}

/// The module's `locals` of one name.
fn local(name: &str) -> Value {
    let found: Vec<Value> = blocks("locals")
        .into_iter()
        .filter(|(file, _)| file.starts_with("modules/pipeline/"))
        .filter_map(|(_, b)| b.get(name).cloned())
        .collect();
    assert_eq!(
        found.len(),
        1,
        "local.{name} must be defined once in the module"
    );
    unwrap_attr(&found[0])
}

/// An attribute's value: the parser wraps each in a one-element list.
fn unwrap_attr(value: &Value) -> Value {
    match value.as_array() {
        Some(items) if items.len() == 1 => items[0].clone(),
        _ => value.clone(),
    }
}

fn attr(body: &Value, name: &str) -> Option<Value> {
    body.get(name).map(unwrap_attr)
}

fn attr_str(body: &Value, name: &str) -> String {
    match attr(body, name) {
        Some(Value::String(s)) => s,
        other => panic!("attribute {name} is not a string: {other:?}"),
    }
}

fn object_keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("expected a literal map, found {value}"))
        .keys()
        .filter(|k| !k.starts_with("__"))
        .cloned()
        .collect()
}

/// The `functions/<name>` directories.
fn function_dirs() -> BTreeSet<String> {
    std::fs::read_dir(workspace().join("functions"))
        .expect("functions/")
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn tf_files_on_disk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("read infra dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != ".terraform") {
            tf_files_on_disk(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "tf") {
            let relative = path.strip_prefix(root).expect("under infra/");
            out.insert(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn every_terraform_file_parses() {
    let mut on_disk = BTreeSet::new();
    tf_files_on_disk(&infra(), &infra(), &mut on_disk);
    let parsed: BTreeSet<String> = parsed().keys().cloned().collect();
    assert_eq!(parsed, on_disk);
    for env in ["dev", "preprod", "prod"] {
        for file in ["main.tf", "variables.tf", "outputs.tf", "versions.tf"] {
            assert!(
                on_disk.contains(&format!("envs/{env}/{file}")),
                "envs/{env}/{file} is missing"
            );
        }
    }
}

#[test]
fn each_environment_root_deploys_the_module_with_remote_state() {
    for env in ["dev", "preprod", "prod"] {
        let main = &parsed()[&format!("envs/{env}/main.tf")];
        let modules = main["module"].as_array().expect("a module block");
        assert_eq!(modules.len(), 1, "{env}: one module call");
        let pipeline = &modules[0]["pipeline"];
        assert_eq!(attr_str(pipeline, "source"), "../../modules/pipeline");
        assert_eq!(attr_str(pipeline, "environment"), env);

        let versions = &parsed()[&format!("envs/{env}/versions.tf")];
        let terraform = &versions["terraform"][0];
        let backend = &terraform["backend"][0]["s3"];
        assert_eq!(attr(backend, "encrypt"), Some(Value::Bool(true)), "{env}");
        assert_eq!(
            attr(backend, "use_lockfile"),
            Some(Value::Bool(true)),
            "{env}"
        );
        assert!(
            infra()
                .join(format!("envs/{env}/backend.hcl.example"))
                .exists(),
            "{env}: backend.hcl.example documents the partial backend configuration"
        );
    }
}

/// Names in `found` that are not steps, and steps missing from it.
fn against_steps(place: &str, found: &BTreeSet<String>) -> Vec<String> {
    let steps: BTreeSet<String> = Step::ALL.iter().map(|s| s.name().to_string()).collect();
    let mut wrong: Vec<String> = steps
        .difference(found)
        .map(|name| format!("{place}: step {name} is missing"))
        .collect();
    wrong.extend(
        found
            .difference(&steps)
            .map(|name| format!("{place}: {name} is not a step (crates/core/src/steps/mod.rs)")),
    );
    wrong
}

/// Every quoted function name in the first list after `marker` in `file`.
fn names_after(file: &Path, marker: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{} has no {marker:?}", file.display()));
    let list = &text[at..at + text[at..].find(']').unwrap()];
    Regex::new(r#""([a-z-]+)""#)
        .unwrap()
        .captures_iter(list)
        .map(|c| c[1].to_string())
        .collect()
}

/// Every Task state of the definition (Map processors included), by name.
fn task_states(states: &Value, out: &mut Vec<(String, Value)>) {
    for (name, state) in states.as_object().unwrap() {
        if state["Type"] == "Task" {
            out.push((name.clone(), state.clone()));
        }
        if let Some(inner) = state.pointer("/ItemProcessor/States") {
            task_states(inner, out);
        }
    }
}

/// One list of steps (`tidemark_core::steps::Step`), and every place that
/// names the steps agrees with it: the function folders, their mains, the
/// Terraform `functions` map and the checks on `var.functions`, the
/// environments, the permissions table, the state machine's placeholders and
/// the errors its Task states retry and catch, and `docs/errors.md`.
#[test]
fn every_place_that_lists_the_steps_agrees_with_the_one_list() {
    let mut wrong = Vec::new();
    wrong.extend(against_steps("functions/", &function_dirs()));
    wrong.extend(against_steps(
        "local.functions (infra/modules/pipeline/main.tf)",
        &object_keys(&local("functions")),
    ));
    wrong.extend(against_steps(
        "the validation of var.functions (infra/modules/pipeline/variables.tf)",
        &names_after(&module_dir().join("variables.tf"), "keys(var.functions)"),
    ));
    for env in ["dev", "preprod", "prod"] {
        let file = infra().join("envs").join(env).join("main.tf");
        if std::fs::read_to_string(&file)
            .unwrap()
            .contains("for fn in [")
        {
            wrong.extend(against_steps(
                &format!("infra/envs/{env}/main.tf functions"),
                &names_after(&file, "for fn in ["),
            ));
        }
    }
    wrong.extend(against_steps(
        "crates/aws/src/permissions.rs FUNCTIONS",
        &permissions::FUNCTIONS
            .iter()
            .map(|(step, _)| step.name().to_string())
            .collect(),
    ));

    // Local usage estimates assume each function's default memory.
    let functions = local("functions");
    for step in Step::ALL {
        let memory = functions
            .pointer(&format!("/{step}/memory_mb"))
            .map(unwrap_attr);
        if memory.as_ref().and_then(Value::as_u64) != Some(u64::from(step.default_memory_mb())) {
            wrong.push(format!(
                "local.functions[\"{step}\"].memory_mb is {memory:?}; Step::default_memory_mb says {}",
                step.default_memory_mb()
            ));
        }
    }

    // Each function's main is thin and calls its own step.
    for step in Step::ALL {
        let main = workspace().join(format!("functions/{step}/src/main.rs"));
        let Ok(text) = std::fs::read_to_string(&main) else {
            continue; // reported above as a missing folder
        };
        let call = format!("tidemark_core::steps::{}(", step.name().replace('-', "_"));
        if !text.contains(&call) {
            wrong.push(format!("{}: does not call {call}…)", main.display()));
        }
        if text.lines().count() > 40 {
            wrong.push(format!("{}: more than 40 lines", main.display()));
        }
    }

    // The state machine names each step's ARN by the step's placeholder,
    // and retries or catches only the errors the step may raise.
    let asl =
        std::fs::read_to_string(workspace().join("statemachines/daily-pipeline.asl.json")).unwrap();
    let placeholders: BTreeSet<String> = Regex::new(r"\$\{(\w+)\}")
        .unwrap()
        .captures_iter(&asl)
        .map(|c| c[1].to_string())
        .collect();
    let expected: BTreeSet<String> = Step::ALL
        .iter()
        .map(|s| s.placeholder().to_string())
        .collect();
    for missing in expected.difference(&placeholders) {
        wrong.push(format!(
            "statemachines/daily-pipeline.asl.json: no Task calls ${{{missing}}}"
        ));
    }
    for extra in placeholders.difference(&expected) {
        wrong.push(format!(
            "statemachines/daily-pipeline.asl.json: ${{{extra}}} is no step's placeholder"
        ));
    }
    let definition: Value = serde_json::from_str(&asl).unwrap();
    let mut tasks = Vec::new();
    task_states(&definition["States"], &mut tasks);
    for (name, task) in tasks {
        let function = task
            .pointer("/Parameters/FunctionName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(step) = Step::ALL
            .into_iter()
            .find(|s| function == format!("${{{}}}", s.placeholder()))
        else {
            wrong.push(format!("state {name} calls {function:?}, no step"));
            continue;
        };
        let handled = ["Retry", "Catch"]
            .iter()
            .flat_map(|k| task[*k].as_array().cloned().unwrap_or_default())
            .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e.as_str().map(str::to_string))
            .filter(|e| e.starts_with("Tidemark."));
        let handled: Vec<String> = handled.collect();
        let retried = task["Retry"].as_array().into_iter().flatten().any(|r| {
            r["ErrorEquals"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e == "Tidemark.Transient"))
        });
        if !retried {
            wrong.push(format!("state {name} does not retry Tidemark.Transient"));
        }
        for error in handled {
            if !step.errors().iter().any(|e| e.as_str() == error) {
                wrong.push(format!(
                    "state {name} handles {error}, which {step} never raises (Step::errors)"
                ));
            }
        }
    }

    // docs/errors.md lists each step's errors as Step::errors does.
    let docs = std::fs::read_to_string(workspace().join("docs/errors.md")).unwrap();
    for step in Step::ALL {
        let row = format!(
            "| `{step}` | {} |",
            step.errors()
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !docs.contains(&row) {
            wrong.push(format!("docs/errors.md lacks the row {row}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_function_has_a_lambda_and_a_role() {
    let lambda = resource("aws_lambda_function", "step");
    assert_eq!(attr_str(&lambda, "for_each"), "${local.functions}");
    assert_eq!(
        attr_str(&lambda, "role"),
        "${aws_iam_role.function[each.key].arn}"
    );
    assert_eq!(
        attr(&lambda, "architectures"),
        Some(serde_json::json!(["${var.lambda_architecture}"]))
    );
    let architecture = blocks("variable")
        .into_iter()
        .filter(|(file, _)| file.contains("modules/pipeline"))
        .find_map(|(_, b)| b.get("lambda_architecture").cloned())
        .expect("the module's lambda_architecture variable");
    assert_eq!(
        attr_str(&architecture, "default"),
        "arm64",
        "arm64 unless make build had to fall back"
    );
    assert_eq!(attr_str(&lambda, "runtime"), "provided.al2023");
    assert!(lambda.get("tracing_config").is_some(), "X-Ray tracing");
    let logging = &lambda["logging_config"][0];
    assert_eq!(attr_str(logging, "log_format"), "JSON");

    let role = resource("aws_iam_role", "function");
    assert_eq!(attr_str(&role, "for_each"), "${local.functions}");
    let log_group = resource("aws_cloudwatch_log_group", "function");
    assert_eq!(attr_str(&log_group, "for_each"), "${local.functions}");
    assert!(attr(&log_group, "retention_in_days").is_some());
    assert!(attr(&log_group, "kms_key_id").is_some());
}

#[test]
fn the_state_machine_gets_every_placeholder_of_the_definition() {
    let sfn = resource("aws_sfn_state_machine", "pipeline");
    let definition = attr_str(&sfn, "definition");

    let path = Regex::new(r#"^\$\{templatefile\("\$\{path\.module\}/([^"]+)","#)
        .unwrap()
        .captures(&definition)
        .unwrap_or_else(|| {
            panic!("definition is not templatefile(\"${{path.module}}/…\", {{…}}): {definition}")
        })[1]
        .to_string();
    let asl_path = module_dir()
        .join(&path)
        .canonicalize()
        .expect("the templatefile path exists");
    assert_eq!(
        asl_path,
        workspace()
            .join("statemachines/daily-pipeline.asl.json")
            .canonicalize()
            .unwrap(),
        "the state machine must be the one definition the local interpreter runs"
    );

    let asl = std::fs::read_to_string(&asl_path).unwrap();
    assert!(
        !asl.contains("%{"),
        "templatefile would read %{{ in the definition as a directive"
    );
    let placeholders: BTreeSet<String> = Regex::new(r"\$\{([^}]*)\}")
        .unwrap()
        .captures_iter(&asl)
        .map(|c| c[1].to_string())
        .collect();
    assert!(!placeholders.is_empty());

    let supplied: BTreeMap<String, String> =
        Regex::new(r#"'(\w+)': '\$\{aws_lambda_function\.step\["([a-z-]+)"\]\.qualified_arn\}'"#)
            .unwrap()
            .captures_iter(&definition)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
    assert_eq!(
        supplied.keys().cloned().collect::<BTreeSet<_>>(),
        placeholders,
        "every ${{…}} of the definition must be supplied by templatefile, and nothing else"
    );
    // The same variable → function pairs the local interpreter substitutes.
    for step in tidemark_core::steps::Step::ALL {
        let var = step.placeholder();
        assert_eq!(
            supplied.get(var).map(String::as_str),
            Some(step.name()),
            "{var} must be the ARN of {step}"
        );
    }
}

#[test]
fn iam_actions_json_is_generated_from_the_permissions_table() {
    let document = permissions::policy_document();
    let json = serde_json::to_string_pretty(&document).expect("serialise") + "\n";
    assert_golden(&module_dir().join("iam-actions.json"), &json);
}

/// `iam-actions.json` as Terraform reads it.
fn iam_actions() -> Value {
    let text = std::fs::read_to_string(module_dir().join("iam-actions.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn each_function_role_has_only_the_generated_policy() {
    // The policy is built from iam-actions.json and nothing else.
    assert_eq!(
        local("iam_actions"),
        Value::String("${jsondecode(file(\"${path.module}/iam-actions.json\"))}".into()),
    );
    let statements = match local("function_statements") {
        Value::String(s) => s,
        other => panic!("local.function_statements: {other}"),
    };
    for needle in [
        "local.iam_actions.functions[fn]",
        "'actions': '${s.actions}'",
        "'sid': '${s.sid}'",
    ] {
        assert!(
            statements.contains(needle),
            "local.function_statements must take {needle}: {statements}"
        );
    }

    let document = data_source("aws_iam_policy_document", "function");
    assert_eq!(attr_str(&document, "for_each"), "${local.functions}");
    assert!(
        document.get("statement").is_none(),
        "no hand-written statements in a function's policy"
    );
    for key in ["source_policy_documents", "override_policy_documents"] {
        assert!(document.get(key).is_none(), "{key} would add statements");
    }
    let dynamic = document["dynamic"].as_array().expect("one dynamic block");
    assert_eq!(dynamic.len(), 1);
    let statement = &dynamic[0]["statement"];
    assert!(attr_str(statement, "for_each").contains("local.function_statements[each.key]"));
    let content = &statement["content"][0];
    assert_eq!(
        object_keys(content),
        BTreeSet::from(["sid".into(), "actions".into(), "resources".into()]),
        "Allow statements of the table's actions on its resources, no more"
    );
    assert_eq!(attr_str(content, "actions"), "${statement.value.actions}");
    assert_eq!(
        attr_str(content, "resources"),
        "${statement.value.resources}"
    );

    let role = resource("aws_iam_role", "function");
    for key in [
        "inline_policy",
        "managed_policy_arns",
        "permissions_boundary",
    ] {
        assert!(role.get(key).is_none(), "aws_iam_role.function sets {key}");
    }
    let policy = resource("aws_iam_role_policy", "function");
    assert_eq!(
        attr_str(&policy, "role"),
        "${aws_iam_role.function[each.key].id}"
    );
    assert_eq!(
        attr_str(&policy, "policy"),
        "${data.aws_iam_policy_document.function[each.key].json}"
    );

    // Nothing else attaches anything to the function roles.
    for ((ty, name), (file, body)) in typed("resource") {
        let attaches = [
            "aws_iam_role_policy",
            "aws_iam_role_policy_attachment",
            "aws_iam_policy_attachment",
            "aws_iam_role_policies_exclusive",
            "aws_iam_role_policy_attachments_exclusive",
        ];
        if attaches.contains(&ty.as_str()) && !(ty == "aws_iam_role_policy" && name == "function") {
            assert!(
                !body.to_string().contains("aws_iam_role.function"),
                "{file}: {ty}.{name} attaches a policy to a function role"
            );
        }
    }
}

#[test]
fn every_resource_the_table_names_resolves_to_scoped_arns() {
    let shared = local("iam_arns");
    let per_function = local("iam_arns_per_function");
    let shared_keys = object_keys(&shared);
    let per_function_keys = object_keys(&per_function);
    assert!(
        shared_keys.is_disjoint(&per_function_keys),
        "a resource name is both shared and per function"
    );

    let mut used = BTreeSet::new();
    let document = iam_actions();
    let functions = document["functions"].as_object().expect("functions");
    for (function, statements) in functions {
        for statement in statements.as_array().unwrap() {
            for resource in statement["resources"].as_array().unwrap() {
                let reference = resource["ref"].as_str().unwrap().to_string();
                assert!(
                    shared_keys.contains(&reference) || per_function_keys.contains(&reference),
                    "{function}: resource {reference} has no ARNs in local.iam_arns (modules/pipeline/iam.tf)"
                );
                used.insert(reference);
            }
        }
    }
    let all: BTreeSet<String> = shared_keys.union(&per_function_keys).cloned().collect();
    assert_eq!(used, all, "local.iam_arns names resources no function uses");

    assert_eq!(shared["any"], serde_json::json!(["*"]));
    for key in shared_keys.iter().filter(|k| *k != "any") {
        let value = shared[key].to_string();
        assert!(
            !value.contains("\"*\"") && !value.contains(":*:"),
            "local.iam_arns.{key} is a wildcard: {value}"
        );
    }
}

#[test]
fn each_function_is_granted_exactly_the_table_and_no_wildcard_action() {
    let document = iam_actions();
    let unscoped: BTreeSet<&str> = permissions::UNSCOPED_ACTIONS
        .iter()
        .map(|(a, _)| *a)
        .collect();
    for (function, statements) in document["functions"].as_object().unwrap() {
        let mut granted = BTreeSet::new();
        for statement in statements.as_array().unwrap() {
            let actions: Vec<&str> = statement["actions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let on_any = statement["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["ref"] == "any");
            for action in actions {
                assert!(
                    !action.contains('*'),
                    "{function}: wildcard action {action}"
                );
                assert!(
                    !on_any || unscoped.contains(action),
                    "{function}: {action} is granted on * but supports resource-level permissions"
                );
                granted.insert(action.to_string());
            }
        }
        let expected: BTreeSet<String> = permissions::actions_of(function).into_iter().collect();
        assert_eq!(granted, expected, "{function}");
    }
}

#[test]
fn hand_written_policies_allow_no_wildcard_actions() {
    // Key policies are exempt: their Resource "*" is the key itself and the
    // account root administers it with kms:*.
    for ((ty, name), (file, body)) in typed("data") {
        if ty != "aws_iam_policy_document" || name == "kms" {
            continue;
        }
        for statement in body
            .get("statement")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if attr(statement, "effect") == Some(Value::String("Deny".into())) {
                continue;
            }
            let actions = attr(statement, "actions").unwrap_or(Value::Null);
            for action in actions.as_array().into_iter().flatten() {
                let action = action.as_str().unwrap_or_default();
                assert!(
                    !action.ends_with(":*") && action != "*",
                    "{file}: data.aws_iam_policy_document.{name} allows {action}"
                );
            }
        }
    }
}

#[test]
fn the_landing_bucket_is_the_dms_target_versioned_and_guarded() {
    let endpoint = resource("aws_dms_s3_endpoint", "landing");
    assert_eq!(
        attr_str(&endpoint, "bucket_name"),
        "${aws_s3_bucket.landing.id}"
    );
    assert_eq!(attr_str(&endpoint, "data_format"), "parquet");
    assert_eq!(attr_str(&endpoint, "parquet_version"), "parquet-2-0");
    assert_eq!(
        attr(&endpoint, "include_op_for_full_load"),
        Some(Value::Bool(true))
    );
    assert_eq!(
        attr(&endpoint, "date_partition_enabled"),
        Some(Value::Bool(true))
    );
    assert_eq!(
        attr_str(&endpoint, "timestamp_column_name"),
        "${var.control_columns.timestamp}"
    );
    let dms = std::fs::read_to_string(module_dir().join("dms.tf")).unwrap();
    assert!(
        dms.contains("\"$AR_H_CHANGE_SEQ\""),
        "the change-seq column comes from $AR_H_CHANGE_SEQ"
    );
    assert!(
        dms.contains("TargetTablePrepMode = \"DO_NOTHING\""),
        "a full load must not drop landed files"
    );
    // A table's own LOB limit reaches DMS and validation alike.
    let squeezed: String = dms.split_whitespace().collect();
    assert!(
        squeezed.contains("\"rule-type\"=\"table-settings\"")
            && squeezed.contains("\"bulk-max-size\"=local.table_lob_kb[table]")
    );
    let template =
        std::fs::read_to_string(module_dir().join("templates/tidemark.toml.tftpl")).unwrap();
    assert!(
        template.contains("lob_max_kb = ${t.lob_max_kb}"),
        "{template}"
    );
    for (setting, value) in [
        ("HandleSourceTableDropped", "false"),
        ("HandleSourceTableTruncated", "false"),
        ("HandleSourceTableAltered", "true"),
    ] {
        assert!(
            dms.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == [setting, "=", value]),
            "{setting} = {value}: a DROP or TRUNCATE must not delete landed files"
        );
    }

    // Versioned (an overwrite can be undone), with old versions expired as
    // DMS asks; only DMS may delete landed files where force_destroy is off.
    let versioned = local("versioned_buckets");
    assert_eq!(versioned, Value::String("${local.buckets}".into()));
    let s3 = std::fs::read_to_string(module_dir().join("s3.tf")).unwrap();
    let landing_lifecycle = s3
        .split("resource \"aws_s3_bucket_lifecycle_configuration\" \"landing\"")
        .nth(1)
        .and_then(|rest| rest.split("\nresource ").next())
        .unwrap();
    assert!(
        landing_lifecycle.contains("noncurrent_days = var.retention.landing_noncurrent_days"),
        "{landing_lifecycle}"
    );
    assert!(s3.contains("sid       = \"OnlyDmsDeletesLandedFiles\""));
    assert!(!s3.contains("CKV_AWS_21"), "every bucket is versioned now");
}

/// Every AWS API a function calls from its subnets has a VPC endpoint
/// (docs/aws.md, "Network"): the services of `iam-actions.json` but those
/// the Lambda service calls for the function (ec2: its network interfaces;
/// sqs: the dead-letter queue), S3 through its gateway endpoint, and the
/// services DMS calls from its subnets.
#[test]
fn every_aws_api_called_from_the_vpc_has_an_endpoint() {
    let endpoints: BTreeSet<String> = local("interface_endpoints")
        .as_array()
        .expect("a literal list")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let actions = iam_actions();
    let mut called = BTreeSet::new();
    for statements in actions["functions"].as_object().unwrap().values() {
        for statement in statements.as_array().unwrap() {
            for action in statement["actions"].as_array().unwrap() {
                let service = action.as_str().unwrap().split(':').next().unwrap();
                called.insert(match service {
                    "cloudwatch" => "monitoring",
                    other => other,
                });
            }
        }
    }
    // DMS reads the source's secret with KMS and writes S3 (as functions do).
    called.extend(["dms", "secretsmanager", "kms"]);
    for service in called {
        match service {
            "ec2" | "sqs" => {}
            "s3" => assert_eq!(
                attr_str(&resource("aws_vpc_endpoint", "s3"), "vpc_endpoint_type"),
                "Gateway"
            ),
            other => assert!(
                endpoints.contains(other),
                "{other} is called from the VPC but local.interface_endpoints lacks it"
            ),
        }
    }
    let interface = resource("aws_vpc_endpoint", "interface");
    assert_eq!(attr_str(&interface, "vpc_endpoint_type"), "Interface");
    assert_eq!(
        attr(&interface, "private_dns_enabled"),
        Some(Value::Bool(true))
    );
}

/// DMS and the functions leave their subnets on 443 only to the endpoints'
/// security group and S3's prefix list, unless the network says NAT; the
/// endpoints admit only their security groups.
#[test]
fn egress_to_the_aws_apis_is_scoped_to_the_endpoints_unless_nat_is_chosen() {
    let egress = local("aws_api_egress");
    let egress = egress.as_str().expect("a conditional expression");
    let (endpoints, nat) = egress.split_once(" : ").expect("endpoints ? {...} : {...}");
    assert!(endpoints.starts_with("${local.via_endpoints ?"), "{egress}");
    assert!(!endpoints.contains("0.0.0.0/0"), "{endpoints}");
    assert!(
        endpoints.contains("local.endpoint_security_group"),
        "{endpoints}"
    );
    assert!(
        endpoints.contains("data.aws_prefix_list.s3.id"),
        "{endpoints}"
    );
    assert!(nat.contains("'nat'") && nat.contains("0.0.0.0/0"), "{nat}");
    for (ty, name) in [
        ("aws_vpc_security_group_egress_rule", "functions_to_aws"),
        ("aws_vpc_security_group_egress_rule", "dms_to_aws"),
    ] {
        let rule = resource(ty, name);
        assert_eq!(
            attr_str(&rule, "for_each"),
            "${local.aws_api_egress}",
            "{name}"
        );
        assert_eq!(attr(&rule, "from_port"), Some(json!(443)), "{name}");
        assert_eq!(attr_str(&rule, "cidr_ipv4"), "${each.value.cidr}", "{name}");
    }
    // No other rule opens egress to every address.
    for ((ty, name), (file, body)) in typed("resource") {
        if ty == "aws_vpc_security_group_egress_rule" {
            assert_ne!(
                attr(&body, "cidr_ipv4")
                    .and_then(|v| v.as_str().map(String::from))
                    .as_deref(),
                Some("0.0.0.0/0"),
                "{file}: {name}"
            );
        }
    }
    let ingress = resource("aws_vpc_security_group_ingress_rule", "endpoints");
    assert_eq!(attr(&ingress, "from_port"), Some(json!(443)));
    assert_eq!(
        attr_str(&ingress, "referenced_security_group_id"),
        "${each.value}"
    );
}

/// Only the notify function's role, the pipeline's own alarms and its
/// budget may publish to the alert topic (the account manages it, and may not); the
/// Chatbot role trusts Chatbot on behalf of this account only.
#[test]
fn only_notify_the_pipelines_alarms_and_its_budget_publish_alerts() {
    let policy = data_source("aws_iam_policy_document", "alerts");
    let mut publishers = Vec::new();
    for statement in policy["statement"].as_array().unwrap() {
        if attr(statement, "effect") == Some(Value::String("Deny".into())) {
            continue;
        }
        let actions = attr(statement, "actions").unwrap();
        if !actions
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "sns:Publish")
        {
            continue;
        }
        let principal = &statement["principals"][0];
        let conditions: BTreeSet<String> = statement
            .get("condition")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| attr_str(c, "variable"))
            .collect();
        publishers.push((
            attr(principal, "identifiers").unwrap().to_string(),
            conditions,
        ));
    }
    let conditions = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        publishers,
        [
            (
                r#"["${aws_iam_role.function[\"notify\"].arn}"]"#.to_string(),
                BTreeSet::new()
            ),
            (
                r#"["cloudwatch.amazonaws.com"]"#.to_string(),
                conditions(&["aws:SourceAccount", "aws:SourceArn"])
            ),
            (
                r#"["budgets.amazonaws.com"]"#.to_string(),
                conditions(&["aws:SourceAccount", "aws:SourceArn"])
            ),
        ]
    );
    let trust = data_source("aws_iam_policy_document", "chatbot_assume");
    let condition = &trust["statement"][0]["condition"][0];
    assert_eq!(attr_str(condition, "variable"), "aws:SourceAccount");
}

/// A deploy never changes the code of a running execution: the functions
/// publish a version per deploy and the definition names those versions;
/// each apply publishes a state-machine version, and the schedule, the
/// output `tidemark rerun` uses and the alias all go through `live`.
#[test]
fn a_deploy_never_changes_the_code_of_a_running_execution() {
    assert_eq!(
        attr(&resource("aws_lambda_function", "step"), "publish"),
        Some(Value::Bool(true))
    );
    let machine = resource("aws_sfn_state_machine", "pipeline");
    assert_eq!(attr(&machine, "publish"), Some(Value::Bool(true)));
    let alias = resource("aws_sfn_alias", "live");
    let routing = &alias["routing_configuration"][0];
    assert_eq!(
        attr_str(routing, "state_machine_version_arn"),
        "${aws_sfn_state_machine.pipeline.state_machine_version_arn}"
    );
    assert_eq!(attr(routing, "weight"), Some(json!(100)));
    let schedule = resource("aws_scheduler_schedule", "run");
    assert_eq!(
        attr_str(&schedule["target"][0], "arn"),
        "${aws_sfn_alias.live.arn}"
    );
    let outputs: Vec<Value> = blocks("output")
        .into_iter()
        .filter(|(file, _)| file.starts_with("modules/pipeline/"))
        .filter_map(|(_, b)| b.get("state_machine_arn").cloned())
        .collect();
    assert_eq!(attr_str(&outputs[0], "value"), "${aws_sfn_alias.live.arn}");
}

/// Who hears what: every function has alarms on errors, throttles and a
/// run near its timeout; every configured table has a freshness alarm on
/// the `Merged` metric notify publishes (crates/core/src/cost.rs), missing
/// data counting as stale; every alarm and the budget reach the topic.
#[test]
fn every_function_and_table_is_watched_and_every_alarm_has_an_action() {
    for name in ["lambda_errors", "lambda_throttles", "lambda_duration"] {
        assert_eq!(
            attr_str(&resource("aws_cloudwatch_metric_alarm", name), "for_each"),
            "${local.functions}",
            "{name}"
        );
    }
    // An RDS source's health: the slot DMS reads and the WAL it holds back.
    let source = resource("aws_cloudwatch_metric_alarm", "source_health");
    assert_eq!(attr_str(&source, "namespace"), "AWS/RDS");
    let watched = attr(&source, "for_each").unwrap().to_string();
    for metric in ["OldestReplicationSlotLag", "TransactionLogsDiskUsage"] {
        assert!(watched.contains(metric), "{metric}: {watched}");
    }
    let freshness = resource("aws_cloudwatch_metric_alarm", "freshness");
    assert_eq!(attr_str(&freshness, "namespace"), "Tidemark");
    assert_eq!(attr_str(&freshness, "metric_name"), "Merged");
    assert_eq!(attr_str(&freshness, "treat_missing_data"), "breaching");
    assert!(attr_str(&freshness, "for_each").contains("var.tables"));
    for ((ty, name), (file, body)) in typed("resource") {
        if ty == "aws_cloudwatch_metric_alarm" {
            assert_eq!(
                attr(&body, "alarm_actions"),
                Some(json!(["${aws_sns_topic.alerts.arn}"])),
                "{file}: {name} has no action"
            );
        }
    }
    let budget = resource("aws_budgets_budget", "pipeline");
    for notification in budget["notification"].as_array().unwrap() {
        assert_eq!(
            attr(notification, "subscriber_sns_topic_arns"),
            Some(json!(["${aws_sns_topic.alerts.arn}"]))
        );
    }
}

/// Prod failures page (the alerts topic's e-mail subscribers); elsewhere the
/// topic is a notifications topic nobody is paged from, unless asked.
#[test]
fn only_prod_failures_page() {
    let topic = resource("aws_sns_topic", "alerts");
    assert!(attr_str(&topic, "name").contains(r#"local.pages ? "alerts" : "notifications""#));
    assert_eq!(
        attr_str(&resource("aws_sns_topic_subscription", "email"), "for_each"),
        "${local.pages || var.email_non_prod ? toset(var.alert_emails) : toset([])}"
    );
    assert_eq!(local("pages"), json!("${var.environment == \"prod\"}"));
}

/// Every EventBridge rule that alerts through notify hands it a
/// `NotifyEvent` it can read (its placeholders filled as EventBridge would).
#[test]
fn every_eventbridge_alert_is_an_event_notify_reads() {
    let alerting = std::fs::read_to_string(module_dir().join("alerting.tf")).unwrap();
    let templates = Regex::new(r"(?s)input_template = <<-EOT\n(.*?)\n\s*EOT").unwrap();
    let placeholder = Regex::new(r"<([a-z_]+)>").unwrap();
    let mut rules = 0;
    for t in templates.captures_iter(&alerting) {
        let filled = placeholder.replace_all(&t[1], "sample-$1");
        let event: tidemark_core::events::NotifyEvent = serde_json::from_str(&filled)
            .unwrap_or_else(|e| panic!("notify cannot read {filled}: {e}"));
        assert_eq!(event.results.len(), 1, "{filled}");
        rules += 1;
    }
    assert_eq!(rules, 3, "execution, replication and replication_stopped");
    assert!(alerting.contains("resources     = [local.replication_arns[\"cdc\"]]"));
}

/// `cadence.tf`'s per-run figures, by name, from its `cadence_cost` local.
fn cadence_figures() -> BTreeMap<String, f64> {
    let locals = blocks("locals")
        .into_iter()
        .find(|(file, _)| file.ends_with("cadence.tf"))
        .expect("modules/pipeline/cadence.tf has locals")
        .1;
    let figures = unwrap_attr(&locals["cadence_cost"]);
    figures
        .as_object()
        .expect("cadence_cost is a map")
        .iter()
        .map(|(k, v)| (k.clone(), unwrap_attr(v).as_f64().expect("a number")))
        .collect()
}

/// Evaluates `expression` in a copy of `cadence.tf` with these variables,
/// when `terraform` is on PATH (it is not required: `None` without it).
fn terraform(command: &[&str], vars: &[(&str, String)]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        module_dir().join("cadence.tf"),
        dir.path().join("cadence.tf"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("variables.tf"),
        "variable \"schedule\" { type = any }\nvariable \"tables\" { type = any }\nvariable \"frequent_schedule\" {\n  type    = any\n  default = {}\n}\nvariable \"monthly_budget_usd\" {\n  type    = number\n  default = null\n}\n",
    )
    .unwrap();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new("terraform");
        c.args(args)
            .current_dir(dir.path())
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .env("TF_IN_AUTOMATION", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (name, value) in vars {
            c.arg("-var").arg(format!("{name}={value}"));
        }
        let mut child = c.spawn().ok()?;
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().ok()?;
        Some(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    };
    match command {
        ["console", expression] => run(&["console"], Some(expression)),
        ["plan"] => {
            let init = Command::new("terraform")
                .args(["init", "-input=false", "-no-color"])
                .current_dir(dir.path())
                .env("TF_CLI_CONFIG_FILE", "/dev/null")
                .output()
                .ok()?;
            assert!(
                init.status.success(),
                "terraform init of cadence.tf alone needs no provider"
            );
            run(&["plan", "-input=false", "-no-color"], None)
        }
        _ => unreachable!(),
    }
}

#[test]
fn a_cadence_that_could_cost_more_than_the_budget_is_warned_about() {
    // The figures are the documented ones.
    let docs = std::fs::read_to_string(workspace().join("docs/aws.md")).unwrap();
    let figures = cadence_figures();
    for (name, row) in [
        ("run", "| the run itself |"),
        ("idle_table", "| a table with nothing new |"),
        ("busy_table", "| a table that merges |"),
    ] {
        let line = docs
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("docs/aws.md has no row {row}"));
        let documented: f64 = line.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert_eq!(Some(&documented), figures.get(name), "{name}: {line}");
    }

    if Command::new("terraform").arg("version").output().is_err() {
        eprintln!("terraform is not on PATH: cadence.tf is not evaluated");
        return;
    }
    let tables = |n: usize| {
        format!(
            "[{}]",
            (0..n)
                .map(|i| format!("{{name=\"t{i}\"}}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    for (expression, runs) in [
        ("rate(15 minutes)", "96"),
        ("rate(1 hour)", "24"),
        ("rate(2 days)", "0.5"),
        ("cron(0 6 * * ? *)", "1"),
        ("cron(0/15 * * * ? *)", "96"),
        ("cron(*/5 8-17 ? * MON-FRI *)", "120"),
        ("cron(0 6,18 * * ? *)", "2"),
    ] {
        let out = terraform(
            &["console", "local.runs_per_day"],
            &[
                ("schedule", format!("{{expression=\"{expression}\"}}")),
                ("tables", tables(1)),
            ],
        )
        .unwrap();
        assert_eq!(out.trim().lines().last(), Some(runs), "{expression}: {out}");
    }
    // 200 tables every 5 minutes against $50 a month: warned, with both figures.
    let warned = terraform(
        &["plan"],
        &[
            ("schedule", "{expression=\"rate(5 minutes)\"}".into()),
            ("tables", tables(200)),
            ("monthly_budget_usd", "50".into()),
        ],
    )
    .unwrap();
    let warned = warned.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        warned.contains("Warning: Check block assertion failed"),
        "{warned}"
    );
    assert!(
        warned.contains("The schedules start about 288 runs a day: daily (rate(5 minutes)): 200 table(s), about 288 run(s) a day. That is $175.80 a month if no table has anything new, and up to $510.25"),
        "{warned}"
    );
    // Daily, the same tables fit.
    let quiet = terraform(
        &["plan"],
        &[
            ("schedule", "{expression=\"cron(0 6 * * ? *)\"}".into()),
            ("tables", tables(200)),
            ("monthly_budget_usd", "50".into()),
        ],
    )
    .unwrap();
    assert!(!quiet.contains("Check block assertion failed"), "{quiet}");

    // Two cadences: 200 tables daily, of which the 150 cdc ones (and no
    // snapshot one, unless it says so) every 15 minutes as well.
    let split = format!(
        "[{}]",
        (0..200)
            .map(|i| match i {
                0..150 => format!("{{name=\"t{i}\"}}"),
                150..199 => format!("{{name=\"t{i}\",mode=\"snapshot\"}}"),
                _ => format!("{{name=\"t{i}\",mode=\"snapshot\",cadence=\"frequent\"}}"),
            })
            .collect::<Vec<_>>()
            .join(",")
    );
    let vars = [
        ("schedule", "{expression=\"cron(0 6 * * ? *)\"}".into()),
        (
            "frequent_schedule",
            "{expression=\"rate(15 minutes)\"}".into(),
        ),
        ("tables", split),
        ("monthly_budget_usd", "50".into()),
    ];
    let frequent = terraform(&["console", "length(local.frequent_tables)"], &vars).unwrap();
    assert_eq!(frequent.trim().lines().last(), Some("151"), "{frequent}");
    let warned = terraform(&["plan"], &vars).unwrap();
    let warned = warned.split_whitespace().collect::<Vec<_>>().join(" ");
    // 96 × 30.4 × (0.00028 + 151 × 0.000099) + 30.4 × (0.00028 + 200 × 0.000099), and busy.
    assert!(
        warned.contains("The schedules start about 97 runs a day: daily (cron(0 6 * * ? *)): 200 table(s), about 1 run(s) a day; frequent (rate(15 minutes)): 151 table(s), about 96 run(s) a day. That is $45.05 a month if no table has anything new, and up to $130.39"),
        "{warned}"
    );
}

//! Which node holds which layers.
//!
//! Layers are split into contiguous ranges by memory: nodes are taken largest-memory first (ties by
//! id) and each takes as many of the remaining layers as fit, until a pipeline covers all layers;
//! the next nodes form the next pipeline (a data-parallel replica), and so on. Nodes that cannot
//! complete a pipeline wait as standby. With one big enough node, it holds every layer. The plan is
//! a pure function of the node set, so every node computes the same one, and it is recomputed
//! whenever a node joins or leaves.

use std::ops::Range;

use crate::config::ModelConfig;

/// Bytes of training state per parameter: f32 weight, gradient and two AdamW moments.
pub const TRAIN_BYTES_PER_PARAM: u64 = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCapacity {
    pub node: String,
    pub memory_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageAssignment {
    pub node: String,
    pub layers: Range<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Each pipeline's stages, in layer order.
    pub pipelines: Vec<Vec<StageAssignment>>,
    pub standby: Vec<String>,
}

/// Memory one layer needs for training.
pub fn layer_bytes(cfg: &ModelConfig) -> u64 {
    let d = cfg.hidden as u64;
    let kv = (cfg.kv_heads * cfg.head_dim()) as u64;
    let params = 2 * d + 2 * d * d + 2 * d * kv + 3 * d * cfg.ffn as u64;
    params * TRAIN_BYTES_PER_PARAM
}

/// Memory the embedding (and head) need on the first and last stage.
pub fn embedding_bytes(cfg: &ModelConfig) -> u64 {
    (cfg.vocab * cfg.hidden) as u64 * TRAIN_BYTES_PER_PARAM
}

pub fn plan(cfg: &ModelConfig, nodes: &[NodeCapacity]) -> Plan {
    let mut order: Vec<&NodeCapacity> = nodes.iter().collect();
    order.sort_by(|a, b| {
        b.memory_bytes
            .cmp(&a.memory_bytes)
            .then(a.node.cmp(&b.node))
    });
    let per_layer = layer_bytes(cfg).max(1);
    let embed = embedding_bytes(cfg);
    let mut out = Plan::default();
    let mut current: Vec<StageAssignment> = Vec::new();
    let mut next_layer = 0;
    for node in order {
        // The first stage carries the embedding; the last, the head (its own copy when tied).
        let first_cost = if next_layer == 0 { embed } else { 0 };
        let remaining = cfg.layers - next_layer;
        let layers_in = |bytes: u64| (bytes / per_layer) as i64;
        let as_last = layers_in(node.memory_bytes.saturating_sub(first_cost + embed));
        let take = if node.memory_bytes >= first_cost + embed && as_last >= remaining {
            remaining
        } else {
            layers_in(node.memory_bytes.saturating_sub(first_cost)).min(remaining - 1)
        };
        if take <= 0 {
            out.standby.push(node.node.clone());
            continue;
        }
        current.push(StageAssignment {
            node: node.node.clone(),
            layers: next_layer..next_layer + take,
        });
        next_layer += take;
        if next_layer == cfg.layers {
            out.pipelines.push(std::mem::take(&mut current));
            next_layer = 0;
        }
    }
    out.standby.extend(current.into_iter().map(|s| s.node));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, gib: u64) -> NodeCapacity {
        NodeCapacity {
            node: name.into(),
            memory_bytes: gib << 30,
        }
    }

    /// Stages are contiguous, cover every layer, and fit their node's memory.
    fn check(cfg: &ModelConfig, plan: &Plan, nodes: &[NodeCapacity]) {
        for p in &plan.pipelines {
            for stage in p {
                let mut need = (stage.layers.end - stage.layers.start) as u64 * layer_bytes(cfg);
                if stage.layers.start == 0 {
                    need += embedding_bytes(cfg);
                }
                if stage.layers.end == cfg.layers {
                    need += embedding_bytes(cfg);
                }
                let have = nodes
                    .iter()
                    .find(|n| n.node == stage.node)
                    .unwrap()
                    .memory_bytes;
                assert!(need <= have, "{stage:?} needs {need}, node has {have}");
            }
            assert_eq!(p.first().unwrap().layers.start, 0);
            assert_eq!(p.last().unwrap().layers.end, cfg.layers);
            for pair in p.windows(2) {
                assert_eq!(pair[0].layers.end, pair[1].layers.start, "contiguous");
            }
        }
    }

    #[test]
    fn one_big_node_holds_every_layer() {
        let cfg = ModelConfig::bootstrap();
        let plan = plan(&cfg, &[node("laptop", 8)]);
        assert_eq!(
            plan.pipelines,
            vec![vec![StageAssignment {
                node: "laptop".into(),
                layers: 0..12
            }]]
        );
    }

    #[test]
    fn small_nodes_split_layers_by_memory_and_replan_on_join_and_leave() {
        let cfg = ModelConfig::bootstrap();
        let per_layer = layer_bytes(&cfg);
        let small = |name: &str, layers: u64| NodeCapacity {
            node: name.into(),
            memory_bytes: embedding_bytes(&cfg) + layers * per_layer + per_layer / 2,
        };
        let nodes = vec![small("a", 5), small("b", 5), small("c", 5)];
        let p = plan(&cfg, &nodes);
        check(&cfg, &p, &nodes);
        assert_eq!(p.pipelines.len(), 1);
        assert!(p.pipelines[0].len() >= 2);
        // A node leaves: the others cannot cover 12 layers alone.
        let p2 = plan(&cfg, &nodes[..1]);
        assert!(p2.pipelines.is_empty());
        assert_eq!(p2.standby, vec!["a".to_string()]);
        // Nodes join: a second pipeline forms.
        let mut more = nodes.clone();
        more.extend([small("d", 5), small("e", 5), small("f", 5)]);
        let p3 = plan(&cfg, &more);
        check(&cfg, &p3, &more);
        assert_eq!(p3.pipelines.len(), 2);
        // The plan does not depend on the order nodes are listed in.
        let mut shuffled = more.clone();
        shuffled.reverse();
        assert_eq!(plan(&cfg, &shuffled), p3);
    }
}

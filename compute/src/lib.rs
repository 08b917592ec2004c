#[cfg(test)]
mod tests {
    #[test]
    fn libtorch_runs() {
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0, 3.0]);
        assert_eq!(f64::try_from(t.sum(tch::Kind::Float)).unwrap(), 6.0);
    }
}

"""The actions service: carries out what automations decide, exactly once per action."""
